/**
 * `kiln server start|stop|status|run`: the workspace's resident build session
 * (src/server/build-server.ts). `start` puts it in the background and returns once it listens;
 * from then on `kiln build` and `kiln test` in the workspace hand it their builds.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { inputError } from "../errors.js";
import { KILN_ROOT } from "../kiln-install.js";
import { runServer } from "../server/build-server.js";
import { askServer } from "../server/server-client.js";
import { processRunning } from "../process-alive.js";
import { readServerRecord, removeServerRecord, SERVER_LOG_FILE, type ServerRecord } from "../server/server-record.js";
import { stateDirOf } from "../state/workspace-state.js";
import { findWorkspaceRoot } from "../workspace/root.js";

export interface ServerCommandOptions {
  workspace?: string;
  /** Minutes without a build before the server ends itself. */
  idleTimeout?: string;
}

const DEFAULT_IDLE_MINUTES = 180;
/** How long `start` waits for the server to listen, and `stop` for it to end. */
const START_WAIT_MS = 30_000;
const STOP_WAIT_MS = 30_000;

function idleTimeoutMs(options: ServerCommandOptions): number {
  if (options.idleTimeout === undefined) return DEFAULT_IDLE_MINUTES * 60_000;
  const minutes = Number(options.idleTimeout);
  if (!Number.isFinite(minutes) || minutes <= 0) throw inputError(`--idle-timeout takes minutes (a positive number), not "${options.idleTimeout}"`);
  return Math.round(minutes * 60_000);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The workspace's live server's record; a stale one (its process gone) is removed. */
function liveRecord(stateDir: string): ServerRecord | undefined {
  const record = readServerRecord(stateDir);
  if (record && !processRunning(record.pid)) {
    removeServerRecord(stateDir, record.pid);
    return undefined;
  }
  return record;
}

function describe(root: string, record: ServerRecord): string {
  return `the kiln server for ${relative(process.cwd(), root) || "."} (pid ${record.pid})`;
}

/** Runs the server in this process until it stops: for a terminal, a service manager, or `start`. */
export async function runServerForeground(options: ServerCommandOptions): Promise<number> {
  const root = findWorkspaceRoot(process.cwd(), options.workspace);
  const timeout = idleTimeoutMs(options);
  await runServer({
    root,
    idleTimeoutMs: timeout,
    log: (line) => process.stderr.write(`${new Date().toISOString()} kiln server: ${line}\n`),
  });
  return 0;
}

export async function startServer(options: ServerCommandOptions): Promise<number> {
  const root = findWorkspaceRoot(process.cwd(), options.workspace);
  const stateDir = stateDirOf(root);
  idleTimeoutMs(options); // refused here, not in the background
  const running = liveRecord(stateDir);
  if (running) {
    process.stdout.write(`kiln: ${describe(root, running)} already runs\n`);
    return 0;
  }
  mkdirSync(stateDir, { recursive: true });
  const logFile = join(stateDir, SERVER_LOG_FILE);
  const log = openSync(logFile, "a");
  const args = [join(KILN_ROOT, "bin/kiln.cjs"), "server", "run", "-C", root];
  if (options.idleTimeout !== undefined) args.push("--idle-timeout", options.idleTimeout);
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", log, log], env: process.env });
  closeSync(log);
  let exited: number | null | undefined;
  child.on("exit", (code) => (exited = code));
  child.unref();
  const deadline = Date.now() + START_WAIT_MS;
  while (Date.now() < deadline && exited === undefined) {
    const record = readServerRecord(stateDir);
    if (record && record.pid === child.pid && (await askServer(record, { type: "status" }))?.type === "status") {
      process.stdout.write(`kiln: started ${describe(root, record)}; kiln build and kiln test here now hand it their builds (kiln server stop ends it; log: ${relative(process.cwd(), logFile)})\n`);
      return 0;
    }
    await sleep(50);
  }
  const tail = readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-5).join("\n  ");
  if (exited === undefined) child.kill("SIGTERM");
  process.stderr.write(`kiln: error: the kiln server did not start${exited !== undefined ? ` (it exited with ${exited})` : ` within ${START_WAIT_MS / 1000} s`}; its log (${relative(process.cwd(), logFile)}) ends:\n  ${tail}\n`);
  return 2;
}

/** `quietWhenNone`: kiln clean, which stops a server if there is one and says nothing otherwise. */
export async function stopServer(options: ServerCommandOptions, { quietWhenNone = false } = {}): Promise<number> {
  const root = findWorkspaceRoot(process.cwd(), options.workspace);
  const stateDir = stateDirOf(root);
  const record = liveRecord(stateDir);
  if (!record) {
    if (!quietWhenNone) process.stdout.write(`kiln: no kiln server runs for ${relative(process.cwd(), root) || "."}\n`);
    return 0;
  }
  const reply = await askServer(record, { type: "stop" });
  if (reply?.type !== "stopping") process.kill(record.pid, "SIGTERM");
  const deadline = Date.now() + STOP_WAIT_MS;
  while (processRunning(record.pid)) {
    if (Date.now() > deadline) {
      process.stderr.write(`kiln: error: ${describe(root, record)} did not stop within ${STOP_WAIT_MS / 1000} s\n`);
      return 2;
    }
    await sleep(50);
  }
  process.stdout.write(`kiln: stopped ${describe(root, record)}\n`);
  return 0;
}

/** Exit 0 when a server runs (and says how it is), 1 when none does. */
export async function serverStatus(options: ServerCommandOptions & { json?: boolean }): Promise<number> {
  const root = findWorkspaceRoot(process.cwd(), options.workspace);
  const record = liveRecord(stateDirOf(root));
  const reply = record ? await askServer(record, { type: "status" }) : undefined;
  if (reply?.type !== "status") {
    if (options.json) process.stdout.write(`${JSON.stringify({ running: false, root })}\n`);
    else process.stdout.write(`kiln: no kiln server runs for ${relative(process.cwd(), root) || "."}${record ? ` (pid ${record.pid} does not answer)` : ""}\n`);
    return 1;
  }
  const { type: _type, ...status } = reply;
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ running: true, ...status })}\n`);
    return 0;
  }
  const lines = [
    `kiln: ${describe(root, record!)} runs ${reply.build}`,
    `  since ${reply.startedAt}; ${reply.builds} builds${reply.busy ? ", one running now" : ""}`,
    `  memory ${Math.round(reply.rssBytes / 2 ** 20)} MiB; ends itself after ${Math.round(reply.idleTimeoutMs / 60_000)} min without a build`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
