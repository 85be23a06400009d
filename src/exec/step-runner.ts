/**
 * A step runner: a long-lived Node child process (started by step-pool.ts with an empty
 * environment) that runs `step` and `test` functions, one at a time. Per task it moves into the
 * step's sandbox, sets `process.env` to exactly what the task carries (the target's declared env
 * plus HOME, TMPDIR, PATH and LANG), imports the step's pre-built bundle as a fresh module
 * instance (a URL of its own, so module-level state never carries from one step to the next),
 * gives the function a context, and captures console output, writes to process.stdout/stderr and
 * ctx.log lines as the step's log.
 *
 * What a task leaves behind decides whether this process runs another: a timer, socket or child
 * process still alive after the step returned, or a new global, and the reply asks the pool to
 * retire this runner, so nothing of one step can reach the next. An exception thrown outside the
 * step's awaited code (a callback, an unawaited promise) fails the running step and ends the
 * process. The caller's environment never reaches this process: /proc/self/environ holds only what
 * it was started with (Node's IPC channel variables).
 *
 * Protocol (Node IPC, JSON): the pool sends `{ type: "run", id, task }`; the runner answers
 * `{ type: "done", id, outcome, rss, leftovers }`, or `{ type: "crash", id, error }` just before it
 * exits. Disconnecting the channel asks it to exit.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { format } from "node:util";
import { BoundedLog } from "./bounded-log.js";

export interface StepTask {
  bundlePath: string;
  exportName: string;
  label: string;
  srcs: Record<string, string | string[]>;
  params: unknown;
  outDir: string;
  seed: number;
  /** The step's working directory: its sandbox. */
  cwd: string;
  /** Exactly the step's environment. */
  env: Record<string, string>;
}

export type StepOutcome =
  | { ok: true; log: string }
  | { ok: false; log: string; error: string; cancelled?: true; /** The step said its input is wrong (an error with kilnFault "input"): exit 2. */ fault?: "input" };

export type RunnerRequest = { type: "run"; id: number; task: StepTask };
export type RunnerReply =
  | { type: "done"; id: number; outcome: StepOutcome; rss: number; leftovers: string[] }
  | { type: "crash"; id: number; error: string };

/** mulberry32: small, fast, and good enough for shuffles and initialisation. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A path given to ctx.out() must stay inside the output directory. */
export function outNameProblem(name: string): string | undefined {
  if (typeof name !== "string" || name.length === 0) return "an output name must be a non-empty string";
  if (isAbsolute(name)) return "absolute paths are refused";
  if (name.split(/[/\\]/).includes("..")) return `".." segments are refused`;
  return undefined;
}

/**
 * A stack without this runner's own frames or Node's internals, its frames in the bundle mapped
 * to the user's files through the bundle's inline source map. Mapped here, only when a step
 * fails: with Node's own source map support on, every import parses the map, which doubled the
 * cost of the fresh import each task makes (0.3 -> 0.6-0.9 ms for a 1 KB step).
 */
function cleanStack(error: unknown, bundlePath: string | undefined): string {
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  const cleaned = text
    .split("\n")
    .filter((line) => !line.includes("/step-runner.js") && !line.includes("node:internal"))
    .join("\n");
  return bundlePath ? mapBundleFrames(cleaned, bundlePath) : cleaned;
}

function mapBundleFrames(text: string, bundlePath: string): string {
  const bundleUrl = pathToFileURL(bundlePath).href;
  if (!text.includes(bundleUrl)) return text;
  let map: SourceMap | null | undefined;
  const escaped = bundleUrl.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const frame = new RegExp(`${escaped}(?:\\?[^:\\s()]*)?:(\\d+):(\\d+)`, "g");
  return text.replace(frame, (whole, line: string, column: string) => {
    map ??= loadSourceMap(bundlePath);
    if (!map) return whole;
    const origin = map.findOrigin(Number(line), Number(column));
    if (!("fileName" in origin)) return whole;
    return `${fileURLToPath(new URL(origin.fileName, bundleUrl))}:${origin.lineNumber}:${origin.columnNumber}`;
  });
}

function loadSourceMap(bundlePath: string): SourceMap | null {
  try {
    const match = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(readFileSync(bundlePath, "utf8"));
    return match ? new SourceMap(JSON.parse(Buffer.from(match[1]!, "base64").toString("utf8"))) : null;
  } catch {
    return null;
  }
}

/** Resources a runner holds while idle: its IPC channel (and stdio pipes once used). */
const RUNNER_RESOURCES = new Set(["PipeWrap", "TTYWrap", "CloseReq"]);

function main(): void {
  if (!process.send) {
    process.stderr.write("step-runner.js runs as a child of kiln (with an IPC channel)\n");
    process.exit(2);
  }
  const baselineGlobals = new Set(Object.getOwnPropertyNames(globalThis));
  let current: { id: number; bundlePath: string } | undefined;
  let taskCount = 0;

  const send = (reply: RunnerReply, then?: () => void) => {
    if (!process.connected) return then?.();
    process.send!(reply, undefined, {}, () => then?.());
  };

  // Outside the step's awaited code: the step fails and this process ends (its state is suspect).
  process.on("uncaughtException", (error) => {
    if (current === undefined) process.exit(70);
    const { id, bundlePath } = current;
    current = undefined;
    send({ type: "crash", id, error: cleanStack(error, bundlePath) }, () => process.exit(70));
  });
  process.on("disconnect", () => process.exit(0));

  process.on("message", (message: RunnerRequest) => {
    if (message?.type !== "run") return;
    current = { id: message.id, bundlePath: message.task.bundlePath };
    void runStep(message.task, ++taskCount).then((outcome) => {
      if (current?.id !== message.id) return; // a crash already answered
      // Let whatever the step scheduled last get registered, then look at what is still alive.
      setImmediate(() => {
        const leftovers = process.getActiveResourcesInfo().filter((name) => !RUNNER_RESOURCES.has(name));
        for (const name of Object.getOwnPropertyNames(globalThis)) {
          if (!baselineGlobals.has(name)) leftovers.push(`global ${name}`);
        }
        current = undefined;
        send({ type: "done", id: message.id, outcome, rss: process.memoryUsage.rss(), leftovers });
      });
    });
  });
}

async function runStep(task: StepTask, serial: number): Promise<StepOutcome> {
  const lines = new BoundedLog();
  const log = (...args: unknown[]) => lines.add(format(...args));
  const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
  const savedWrite = { out: process.stdout.write, err: process.stderr.write };
  console.log = console.info = console.warn = console.error = console.debug = log;
  const capture = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    lines.add(text.endsWith("\n") ? text.slice(0, -1) : text);
    const done = typeof encoding === "function" ? encoding : callback;
    if (typeof done === "function") process.nextTick(done as () => void);
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  try {
    for (const name of Object.keys(process.env)) delete process.env[name];
    Object.assign(process.env, task.env);
    process.chdir(task.cwd);
    // A URL of its own per task: a fresh module instance, its module-level state new.
    const url = `${pathToFileURL(task.bundlePath).href}?kiln-task=${process.pid}-${serial}`;
    const module = (await import(url)) as Record<string, unknown>;
    const fn = module[task.exportName];
    if (typeof fn !== "function") {
      const exported = Object.keys(module).filter((k) => typeof module[k] === "function");
      return { ok: false, log: "", error: `the module exports no function "${task.exportName}" (it exports: ${exported.join(", ") || "none"})` };
    }
    const ctx = {
      label: task.label,
      srcs: task.srcs,
      params: task.params,
      seed: task.seed,
      random: seededRandom(task.seed),
      log,
      // Loaded on first use: hyparquet is needed only by steps that read Parquet.
      async *readParquet(path: string, options?: { columns?: readonly string[] }) {
        const { readParquet } = await import("../../rules/dataset/parquet-reader.js");
        yield* readParquet(path, options);
      },
      out(name: string): string {
        const problem = outNameProblem(name);
        if (problem) {
          throw new Error(`${task.label}: ctx.out(${JSON.stringify(name)}) is outside the step's output directory: ${problem} (outputs are relative paths inside $OUT)`);
        }
        const path = join(task.outDir, name);
        mkdirSync(dirname(path), { recursive: true });
        return path;
      },
    };
    await fn(ctx);
    return { ok: true, log: lines.text() };
  } catch (error) {
    const inputFault = (error as { kilnFault?: unknown } | null)?.kilnFault === "input";
    return { ok: false, log: lines.text(), error: cleanStack(error, task.bundlePath), ...(inputFault ? { fault: "input" as const } : {}) };
  } finally {
    Object.assign(console, saved);
    process.stdout.write = savedWrite.out;
    process.stderr.write = savedWrite.err;
    // Do not hold the sandbox while idle.
    try {
      process.chdir("/");
    } catch {
      // stays where it is; the next task moves anyway
    }
  }
}

main();
