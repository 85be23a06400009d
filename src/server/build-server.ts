/**
 * The kiln server: one workspace's session kept in memory between builds, as Bazel's server
 * keeps its graph. `kiln build` pays for its graph (40 MB of JSON at 100,000 targets), its stat
 * cache and its stamp on every run; here they are read once, and each build a client hands over
 * (server-client.ts) starts from what the last one left. The session's every check still runs
 * (every recorded file is stat'ed again, BUILD.ts files are revalidated): a build here is the
 * build `kiln build` would do, without the reading.
 *
 * One build at a time, in arrival order; others wait (and are told so). A client that goes away
 * stops its build as Ctrl-C would. The client is answered as soon as the outcome is known and its
 * outputs are in kiln-out; the server records the build (sandboxes, cache index, stamp) after,
 * before it takes the next one. State another kiln process wrote meanwhile (a `--no-server`
 * build) makes the server open the session again, so it never builds from older state than a
 * one-off build would read.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { runBuildCommand, type CommandIO, type CommandOutput } from "../cli/build-command.js";
import { reportFailure } from "../cli/error-report.js";
import { inputError } from "../errors.js";
import { currentPackage, parsePatterns, stampMayAnswer, upToDateText } from "../cli/up-to-date.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { STATE_FILES } from "../state/workspace-state.js";
import { encodeMessage, messageReader, type BuildMessage, type ClientMessage, type ServerMessage, type StreamShape } from "./server-protocol.js";
import { processRunning } from "../process-alive.js";
import { kilnBuildId, readServerRecord, removeServerRecord, writeServerRecord, type ServerRecord } from "./server-record.js";

export interface ServerOptions {
  root: string;
  idleTimeoutMs: number;
  /** Where the server says what it does (its log). */
  log: (line: string) => void;
}

/** How often the server checks that its record still names it. */
const ORPHAN_CHECK_MS = 5_000;

/** The state files a session reads when it opens, by name prefix (journals included). */
const SESSION_FILES = Object.values(STATE_FILES);

/**
 * Where the server's socket goes: beside the record, unless that path is longer than a Unix
 * socket's address can hold (108 bytes on Linux, less elsewhere); then in a directory only this
 * user may enter, named by the root.
 */
function socketPathFor(root: string, stateDir: string): string {
  const beside = join(stateDir, "server.sock");
  if (Buffer.byteLength(beside) <= 100) return beside;
  const dir = join(tmpdir(), `kiln-${process.getuid?.() ?? "user"}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, `${createHash("sha256").update(root).digest("hex").slice(0, 16)}.sock`);
}

/** Size, mtime and inode of each state file a session reads: what another process's build changes. */
function stateIdentity(stateDir: string): string {
  const parts: string[] = [];
  let names: string[];
  try {
    names = readdirSync(stateDir).sort();
  } catch {
    return "";
  }
  for (const name of names) {
    if (!SESSION_FILES.some((file) => name.startsWith(file))) continue;
    try {
      const stat = statSync(join(stateDir, name));
      parts.push(`${name}:${stat.size}:${stat.mtimeMs}:${stat.ino}`);
    } catch {
      // removed between the listing and the stat: not there
    }
  }
  return parts.join("\n");
}

/** A client's stream: text becomes `out` or `err` messages. */
function clientStream(socket: Socket, type: "out" | "err", shape: StreamShape): CommandOutput {
  return {
    isTTY: shape.isTTY,
    columns: shape.columns,
    write(text: string) {
      if (socket.writable) socket.write(encodeMessage({ type, text }));
    },
  };
}

/**
 * Listens until stopped (a `stop` message, SIGINT or SIGTERM) or idle for `idleTimeoutMs`.
 * Resolves once the socket and the record are gone and the session is saved.
 */
export async function runServer(options: ServerOptions): Promise<void> {
  const { root, log } = options;
  let session = WorkspaceSession.open(root);
  session.holdSandboxes();
  const stateDir = session.stateDir;
  const build = kilnBuildId();

  const existing = readServerRecord(stateDir);
  if (existing && existing.pid !== process.pid && processRunning(existing.pid)) {
    throw inputError(`a kiln server already runs for this workspace (pid ${existing.pid}); kiln server stop ends it`);
  }
  mkdirSync(stateDir, { recursive: true }); // a workspace never built yet has none
  const socketPath = socketPathFor(root, stateDir);
  rmSync(socketPath, { force: true }); // a dead server's socket

  let builds = 0;
  let busy = false;
  let queue: Promise<void> = Promise.resolve();
  let knownState = stateIdentity(stateDir);
  /** A failure recording a build whose client was already answered: told to the next client. */
  let pendingWarning: string | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  let stopped!: () => void;
  const whenStopped = new Promise<void>((resolve) => (stopped = resolve));
  /** The running build's stop, for a server told to stop mid-build. */
  let stopRunning: ((signal: string) => void) | undefined;

  /** Where a client's signal goes: its running build's stop, once its build runs. */
  const signalTargets = new WeakMap<Socket, (signal: string) => void>();
  const server = createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.on(
      "data",
      messageReader<ClientMessage>(
        (message) => onRequest(socket, message),
        () => socket.destroy(),
      ),
    );
  });
  const startedAt = new Date().toISOString();

  const resetIdle = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      log(`idle for ${Math.round(options.idleTimeoutMs / 60000)} min: stopping`);
      stop(false);
    }, options.idleTimeoutMs);
    idleTimer.unref();
  };

  /**
   * `interrupt`: the running build stops too (kiln server stop, a signal); else it finishes first.
   * `save`: false when the state directory is gone, so that stopping does not make it again.
   */
  const stop = (interrupt: boolean, save = true) => {
    if (stopping) return;
    stopping = true;
    clearTimeout(idleTimer);
    if (interrupt) stopRunning?.("SIGTERM");
    server.close();
    removeServerRecord(stateDir, process.pid);
    // Builds already queued finish (their clients are waiting); then the session is put away.
    void queue.then(() => {
      rmSync(socketPath, { force: true });
      if (save) {
        session.parkHeldSandboxes();
        session.save();
      }
      stopped();
    });
  };

  const onRequest = (socket: Socket, message: ClientMessage) => {
    const send = (reply: ServerMessage) => {
      if (socket.writable) socket.write(encodeMessage(reply));
    };
    if (message.type === "signal") {
      // Ctrl-C in a client: its running build stops; one still waiting ends before it starts.
      const target = signalTargets.get(socket);
      if (target) target(message.signal);
      else if (socket.writable) socket.end(encodeMessage({ type: "exit", code: message.signal === "SIGTERM" ? 143 : 130 }));
    } else if (message.type === "status") {
      send({ type: "status", pid: process.pid, root, build, startedAt, idleTimeoutMs: options.idleTimeoutMs, builds, busy, rssBytes: process.memoryUsage.rss() });
      socket.end();
    } else if (message.type === "stop") {
      log("stop requested");
      send({ type: "stopping" });
      socket.end();
      stop(true);
    } else if (message.type === "build") {
      if (message.build !== build) {
        send({ type: "refused", reason: `it runs another kiln (${build}, this is ${message.build}); kiln server stop ends it` });
        socket.end();
        // A newer kiln is installed: this server would refuse every build from now on.
        log(`a client of another kiln (${message.build}): stopping`);
        stop(false);
        return;
      }
      if (message.root !== root || stopping) {
        send({ type: "refused", reason: stopping ? "it is stopping" : `it serves ${root}` });
        socket.end();
        return;
      }
      if (busy) send({ type: "err", text: "kiln: waiting for the kiln server's current build to finish\n" });
      queue = queue.then(() => serveBuild(socket, message)).catch((error) => log(`internal error: ${String(error)}`));
    }
  };

  /** Runs one client's build; resolves once the build is recorded (the client may have its answer already). */
  const serveBuild = async (socket: Socket, message: BuildMessage): Promise<void> => {
    if (socket.destroyed) return; // gave up waiting
    busy = true;
    clearTimeout(idleTimer);
    const started = Date.now();
    let answered = false;
    const answer = (code: number) => {
      if (answered) return;
      answered = true;
      if (socket.writable) socket.end(encodeMessage({ type: "exit", code }));
    };
    const stopListeners = new Set<(signal: string) => void>();
    const stopBuild = (signal: string) => {
      for (const listener of stopListeners) listener(signal);
    };
    signalTargets.set(socket, stopBuild);
    // A client that goes away (killed, its terminal closed) stops its build, as Ctrl-C would.
    const onGone = () => {
      if (!answered) stopBuild("SIGTERM");
    };
    socket.on("close", onGone);
    // Past the answer the build is only recording itself: a stopping server lets it finish.
    stopRunning = (signal) => {
      if (!answered) stopBuild(signal);
    };
    const io: CommandIO = {
      cwd: message.cwd,
      env: message.env,
      stdout: clientStream(socket, "out", message.stdout),
      stderr: clientStream(socket, "err", message.stderr),
      onStop(listener) {
        stopListeners.add(listener);
        return () => stopListeners.delete(listener);
      },
      answered: answer,
    };
    if (pendingWarning) {
      io.stderr.write(`kiln: warning: ${pendingWarning}\n`);
      pendingWarning = undefined;
    }
    try {
      const now = stateIdentity(stateDir);
      if (now !== knownState) {
        // Another kiln process built here since: start from what it left, as it would.
        log("state changed by another kiln process: opening the session again");
        session.parkHeldSandboxes();
        session = WorkspaceSession.open(root);
        session.holdSandboxes();
      }
      const code = await buildFor(session, message, io, started);
      answer(code);
    } catch (error) {
      if (answered) {
        pendingWarning = `the last build's outputs are in place, but the kiln server could not record its state: ${error instanceof Error ? error.message : String(error)}`;
        log(pendingWarning);
      } else answer(reportFailure(error, io.stderr, message.options.verbose === true));
    } finally {
      builds++;
      busy = false;
      stopRunning = undefined;
      socket.off("close", onGone);
      knownState = stateIdentity(stateDir);
      log(`build ${builds}: ${message.mode} ${message.patterns.join(" ") || "//..."} in ${Date.now() - started} ms`);
      if (!stopping) resetIdle();
    }
  };

  // Only this user may hand the server builds: they run as this user, with the client's
  // environment. The umask makes the socket 0600 from its first moment; the chmod says so.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  chmodSync(socketPath, 0o600);
  const record: ServerRecord = { pid: process.pid, socket: socketPath, build, root, startedAt, idleTimeoutMs: options.idleTimeoutMs };
  writeServerRecord(stateDir, record);
  log(`listening on ${socketPath} (pid ${process.pid}, ${build})`);
  resetIdle();
  // A server whose record is gone (removed with .kiln/, or another server's) can be reached by no
  // client: it ends instead of holding the workspace's memory until its idle timeout.
  const orphanCheck = setInterval(() => {
    if (readServerRecord(stateDir)?.pid === process.pid) return;
    log("the server record .kiln/server.json is gone or names another server: stopping");
    stop(false, existsSync(stateDir));
  }, ORPHAN_CHECK_MS);
  orphanCheck.unref();

  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping`);
    stop(true);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await whenStopped;
  } finally {
    clearInterval(orphanCheck);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    log("stopped");
  }
}

/**
 * What `kiln build` does after its fast path, against the resident session: the up-to-date check
 * (against the stamp the session kept), then the build.
 */
async function buildFor(session: WorkspaceSession, message: BuildMessage, io: CommandIO, started: number): Promise<number> {
  const { options, mode } = message;
  let changes;
  if (stampMayAnswer(options)) {
    const patterns = parsePatterns(message.patterns, currentPackage(session.root, io.cwd));
    const check = session.checkStamp({ mode, patterns, hostEnv: io.env });
    if (check.upToDate) {
      io.stdout.write(upToDateText(check.upToDate, options, Date.now() - started, io.cwd));
      return 0;
    }
    changes = check.changes;
  }
  return runBuildCommand(message.patterns, options, mode, changes, io, session);
}
