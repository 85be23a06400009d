/**
 * One `cmd` step in its laid-out sandbox: its environment (SRCS, SRCS_FILE, OUT, HOME, TMPDIR,
 * the fixed PATH with its declared tools in front), the command started under the build's
 * isolation, and its log read back bounded. What it wrote is checked by the local executor.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, symlinkSync } from "node:fs";
import { basename, join } from "node:path";
import type { GraphTarget } from "../graph/action-graph.js";
import type { PreparedAction } from "../key/action-inputs.js";
import { overwriteFile } from "../overwrite-file.js";
import { STDERR_FILE, STDOUT_FILE, type CommandSpawner } from "./command-spawner.js";
import { cancelledExecution, type FailedExecution } from "./executor.js";
import { commandWrapper, type Isolation } from "./isolation.js";
import { toolRoots } from "./namespace-sandbox.js";
import type { Sandbox } from "./sandbox.js";
import type { Tool } from "./tools.js";

/** The PATH every `cmd` sees (plus the sandbox's own tool directory in front). */
export const SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin";
/** Linux refuses a single environment string over 128 KiB (MAX_ARG_STRLEN). */
const MAX_ENV_STRING = 128 * 1024 - 64;
const STDERR_TAIL_LINES = 20;
/** Bytes of a command's stdout (and of its stderr) kept in its log. */
const LOG_STREAM_LIMIT = 1 << 20;

export interface CmdRun {
  target: GraphTarget;
  prepared: PreparedAction;
  sandbox: Sandbox;
  /** Input paths in declaration order (for SRCS and SRCS_FILE). */
  ordered: readonly string[];
  /** The target's $OUT inside the sandbox. */
  outAbsolute: string;
  isolation: Isolation;
  tools: ReadonlyMap<string, Tool>;
  spawner: CommandSpawner;
  signal: AbortSignal;
}

export async function runCmdAction(run: CmdRun): Promise<{ ok: true; log: string } | (FailedExecution & { log: string })> {
  const { target, prepared, sandbox, ordered, outAbsolute } = run;
  const spec = target.spec;
  const command = spec.cmd!;
  const srcsFile = sandbox.path(".kiln-srcs");
  overwriteFile(srcsFile, ordered.length > 0 ? `${ordered.join("\n")}\n` : "");
  // Declared tools are linked into the sandbox's own bin directory, in front of the fixed PATH.
  let path = SANDBOX_PATH;
  if (spec.tools && spec.tools.length > 0) {
    const binDir = sandbox.path(".bin");
    for (const name of spec.tools) symlinkSync(run.tools.get(name)!.path, join(binDir, name));
    path = `${binDir}:${SANDBOX_PATH}`;
  }

  const env: Record<string, string> = {
    PATH: path,
    HOME: sandbox.home,
    TMPDIR: sandbox.tmp,
    LANG: "C.UTF-8",
    OUT: outAbsolute,
    SRCS_FILE: srcsFile,
    ...Object.fromEntries(prepared.ingredients.env),
  };
  const srcs = ordered.join(" ");
  if (srcs.length + 5 <= MAX_ENV_STRING) env.SRCS = srcs;
  else if (/\$\{?SRCS\b(?!_)/.test(command)) {
    return {
      ok: false,
      command,
      log: "",
      stderrTail: "",
      message:
        `$SRCS would be ${Math.round(srcs.length / 1024)} KiB, over Linux's 128 KiB limit for one environment ` +
        `string, so it is not set; read the ${ordered.length} input paths from $SRCS_FILE (one a line) instead`,
    };
  }
  const wrapper = commandWrapper(run.isolation, {
    sandboxDir: sandbox.dir,
    writable: [outAbsolute, sandbox.tmp],
    tools: toolRoots((spec.tools ?? []).map((name) => run.tools.get(name)!.path)),
    network: spec.network === true,
  });
  const ran = await run.spawner.run(command, sandbox.dir, env, wrapper, run.signal);
  if (ran.cancelled || run.signal.aborted) return { ...cancelledExecution(command), log: "" };
  // A command that never started left no output; the files may hold an earlier use's.
  const stdout = ran.spawnError ? "" : readLogStream(sandbox.path(STDOUT_FILE));
  const stderr = ran.spawnError ? "" : readLogStream(sandbox.path(STDERR_FILE));
  const log = [stdout, stderr].filter((s) => s.length > 0).join("\n");
  if (ran.spawnError || ran.lostError || ran.exitCode !== 0) {
    const how = ran.spawnError
      ? `could not start: ${ran.spawnError}`
      : ran.lostError
        ? `ended without a status: ${ran.lostError}`
        : ran.exitCode === null
          ? `killed by ${ran.signal}`
          : `exited with code ${ran.exitCode}${ran.signal ? ` (128 + ${ran.signal}: killed by a signal?)` : ""}`;
    return { ok: false, command, message: `command ${how}`, stderrTail: tail(stderr || stdout), log };
  }
  return { ok: true, log };
}

/**
 * A command's stdout or stderr for its log: whole up to LOG_STREAM_LIMIT, else its first and last
 * halves of that with a line saying how much was left out, so a command printing gigabytes costs
 * kiln 1 MiB of memory, not gigabytes.
 */
function readLogStream(file: string): string {
  // The command can replace the file (dir sandbox, step runners): opened without following a
  // link and without blocking on a FIFO, and read only if it is a regular file.
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ELOOP") throw error;
    return `[kiln: ${basename(file)} was replaced by a symbolic link; the command's output is lost]`;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return `[kiln: ${basename(file)} was replaced by the command; its output is lost]`;
    const { size } = stats;
    if (size === 0) return "";
    if (size <= LOG_STREAM_LIMIT) return readFileSync(fd, "utf8");
    const half = LOG_STREAM_LIMIT / 2;
    const head = Buffer.alloc(half);
    const tail = Buffer.alloc(half);
    readSync(fd, head, 0, half, 0);
    readSync(fd, tail, 0, half, size - half);
    return `${head.toString("utf8")}\n[kiln: ${size - 2 * half} bytes of this output left out of the log]\n${tail.toString("utf8")}`;
  } finally {
    closeSync(fd);
  }
}

/** The last lines of a log, for a failure's message. */
export function tail(text: string): string {
  const lines = text.trimEnd().split("\n");
  return lines.slice(-STDERR_TAIL_LINES).join("\n");
}
