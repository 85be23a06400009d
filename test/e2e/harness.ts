/**
 * The end-to-end rig: fixture workspaces in fresh temp dirs, the real built CLI run as a child
 * process with its own cache dir, and helpers to read `--json` events. Requires `npm run build`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const KILN_BIN = join(REPO, "bin", "kiln.cjs");

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// The --json contract is defined once, by the engine's event types.
export type { StepEvent, SummaryEvent } from "../../src/events.js";
import type { StepEvent, SummaryEvent } from "../../src/events.js";

export interface JsonRun extends RunResult {
  steps: StepEvent[];
  summary: SummaryEvent;
  /** Labels of steps with status "executed", sorted. */
  executed: string[];
  /** Labels of steps with status "cached", sorted. */
  cached: string[];
  /** Labels of steps with status "failed", sorted. */
  failed: string[];
}

const tempDirs: string[] = [];

/**
 * The warnings a run printed, one a line, but the sandbox's "NOT HERMETIC" notice: a machine
 * that can make no namespace prints it every build, and tests of other things must not fail
 * there (hermetic.test.ts asserts it where it is meant).
 */
export function warningLines(run: { stderr: string }): string[] {
  return run.stderr.split("\n").filter((line) => line.startsWith("warning:") && !line.startsWith("warning: NOT HERMETIC:"));
}

/** A fresh temp dir, removed by `cleanupTempDirs`. */
export function makeTempDir(prefix = "kiln-e2e-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes every temp dir made so far (outputs are read-only files, so directories are made writable first). */
export function cleanupTempDirs(): void {
  for (const dir of tempDirs.splice(0)) removeTree(dir);
}

export function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    makeWritable(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

function makeWritable(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  try {
    chmodSync(path, st.mode | 0o700);
  } catch {
    /* ignore */
  }
  if (st.isDirectory()) for (const name of readdirSync(path)) makeWritable(join(path, name));
}

/** Writes `files` (path relative to `root` -> content) under `root`. */
export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}

export interface Fixture {
  /** The workspace root. */
  ws: string;
  /** The cache dir given to kiln as KILN_CACHE_DIR. */
  cache: string;
  /** Runs kiln with `-C ws` appended and KILN_CACHE_DIR set. */
  kiln(args: string[], options?: RunOptions): Promise<RunResult>;
  /** Runs `kiln build --json ...args` and parses its events. */
  build(args?: string[], options?: RunOptions): Promise<JsonRun>;
  /** Starts kiln without waiting for it. */
  spawnKiln(args: string[], options?: RunOptions): ChildProcess;
  write(files: Record<string, string>): void;
  read(path: string): string;
  /** Path of an output: `kiln-out/<pkg>/<target>/<file>`. */
  out(pkg: string, target: string, file: string): string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Leave out `-C ws`. */
  noWorkspaceFlag?: boolean;
}

/** Makes a workspace from `files` in a fresh temp dir, with its own fresh cache dir. */
export function makeWorkspace(files: Record<string, string>, options: { cache?: string } = {}): Fixture {
  const base = makeTempDir();
  const ws = join(base, "ws");
  mkdirSync(ws);
  const cache = options.cache ?? join(base, "cache");
  writeFiles(ws, files);
  const argsFor = (args: string[], opts: RunOptions = {}) => (opts.noWorkspaceFlag ? args : [...args, "-C", ws]);
  const envFor = (opts: RunOptions = {}) => ({ KILN_CACHE_DIR: cache, ...opts.env });
  const fixture: Fixture = {
    ws,
    cache,
    kiln: (args, opts = {}) => runKiln(argsFor(args, opts), { cwd: opts.cwd ?? ws, env: envFor(opts) }),
    build: async (args = [], opts = {}) => parseJsonRun(await fixture.kiln(["build", "--json", ...args], opts)),
    spawnKiln: (args, opts = {}) => spawnKiln(argsFor(args, opts), { cwd: opts.cwd ?? ws, env: envFor(opts) }),
    write: (more) => writeFiles(ws, more),
    read: (path) => readFileSync(join(ws, path), "utf8"),
    out: (pkg, target, file) => join(ws, "kiln-out", pkg, target, file),
  };
  return fixture;
}

function childEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  // A developer's own cache or remote must never leak into a test.
  delete merged.KILN_REMOTE_CACHE;
  delete merged.KILN_REMOTE_UPLOAD;
  delete merged.KILN_REMOTE_CACHE_TOKEN;
  delete merged.KILN_CACHE_DIR;
  // Nor their cache cap (a small one would start background trims) or gc grace.
  delete merged.KILN_CACHE_MAX_SIZE;
  delete merged.KILN_CACHE_GC_GRACE;
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

export function spawnKiln(args: string[], options: { cwd: string; env?: Record<string, string | undefined> }): ChildProcess {
  return spawn(KILN_BIN, args, {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs the built CLI and collects its exit code and output. */
export function runKiln(args: string[], options: { cwd: string; env?: Record<string, string | undefined> }): Promise<RunResult> {
  return collect(spawnKiln(args, options));
}

export function collect(child: ChildProcess): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}

/** Parses `--json` stdout: every line one JSON object, step events, then one summary last. */
export function parseJsonRun(run: RunResult): JsonRun {
  const lines = run.stdout.split("\n").filter((line) => line.length > 0);
  const events = lines.map((line) => {
    try {
      return JSON.parse(line) as StepEvent | SummaryEvent;
    } catch {
      throw new Error(`--json stdout has a line that is not JSON: ${JSON.stringify(line)}\nstderr:\n${run.stderr}`);
    }
  });
  const last = events.at(-1);
  if (last?.type !== "summary") {
    throw new Error(`--json stdout does not end with a summary (exit ${run.code})\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
  const steps = events.slice(0, -1) as StepEvent[];
  for (const step of steps) {
    if (step.type !== "step") throw new Error(`unexpected event before the summary: ${JSON.stringify(step)}`);
  }
  const labelsWith = (status: StepEvent["status"]) =>
    steps
      .filter((s) => s.status === status)
      .map((s) => s.label)
      .sort();
  return {
    ...run,
    steps,
    summary: last,
    executed: labelsWith("executed"),
    cached: labelsWith("cached"),
    failed: labelsWith("failed"),
  };
}

/** A result description for assertion messages. */
export function show(run: RunResult): string {
  return `exit ${run.code}${run.signal ? ` (${run.signal})` : ""}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

/** Lines that look like a JavaScript stack trace. */
export function stackLines(text: string): string[] {
  return text.split("\n").filter((line) => /^\s+at /.test(line));
}

/** Every blob file in `<cache>/cas/`. */
export function listBlobs(cache: string): string[] {
  const cas = join(cache, "cas");
  const blobs: string[] = [];
  for (const prefix of readdirSync(cas)) {
    const dir = join(cas, prefix);
    if (!statSync(dir).isDirectory()) continue;
    for (const name of readdirSync(dir)) blobs.push(join(dir, name));
  }
  return blobs.sort();
}

export const WORKSPACE_TS = `import { workspace } from "kiln";\nexport default workspace({ name: "e2e" });\n`;

/** True while process `pid` runs (a zombie, exited but not reaped, does not count). */
export function processRunning(pid: number | string): boolean {
  try {
    process.kill(Number(pid), 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** Waits until `condition` holds or `ms` pass; returns whether it holds. */
export async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; !condition() && waited < ms; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  return condition();
}

/** Waits for a pid file a command writes, and reads it. */
export async function readPidFile(file: string): Promise<number> {
  await waitFor(() => existsSync(file) && readFileSync(file, "utf8").endsWith("\n"), 20_000);
  return Number(readFileSync(file, "utf8"));
}

/** Every file of `examples/<name>` except kiln-out/, .kiln/, dist/ and node_modules/, as path -> content (text). */
export function exampleFiles(name: string): Record<string, string> {
  const example = join(REPO, "examples", name);
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = path.slice(example.length + 1);
      if (rel === "kiln-out" || rel === ".kiln" || rel === "dist" || entry.name === "node_modules") continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files[rel] = readFileSync(path, "utf8");
    }
  };
  walk(example);
  return files;
}
