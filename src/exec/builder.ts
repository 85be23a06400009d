/**
 * Executes a validated graph. Each action, once its inputs are ready, gets its key from the
 * digests of its inputs; a valid cache entry is materialized, anything else runs in a sandbox
 * (child process for `cmd`, worker thread for `step`), up to `jobs` at once, longest remaining
 * path first. Outputs enter the store before the action result does, and failed results are never
 * cached. Early cutoff falls out of content keys: a dependant whose input bytes did not change
 * gets the same key and stays cached.
 */
import { existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ActionResult, LocalStore, OutputRecord } from "../cache/local-store.js";
import { listFiles, materializeOutputs, outputsInPlace } from "../cache/materialize.js";
import { computeKey, describeKeyChanges, KEY_FORMAT, type ActionKey, type KeyIngredients } from "../key/action-key.js";
import { digestBytes, digestFileOfSize, type ContentDigest } from "../key/digest.js";
import type { StatCache } from "../key/stat-cache.js";
import type { StepModule } from "../key/step-bundle.js";
import { outputDir, transitiveClosure, type BuildGraph, type GraphTarget } from "../graph/action-graph.js";
import { longestPathToSink } from "../graph/cycle.js";
import type { Reporter, SummaryEvent } from "./events.js";
import { MaxHeap } from "./heap.js";
import { overwriteFile } from "../overwrite-file.js";
import { CommandSpawner, STDERR_FILE, STDOUT_FILE } from "./command-spawner.js";
import { resolveRunReference } from "./run-ref.js";
import { settleRemovals, type Sandbox } from "./sandbox.js";
import { SandboxPool } from "./sandbox-pool.js";
import { StepPool } from "./step-pool.js";
import type { Tool } from "./tools.js";
import type { LastResult } from "../state/workspace-state.js";

/** The PATH every `cmd` sees (plus the sandbox's own tool directory in front). */
export const SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin";
/** Linux refuses a single environment string over 128 KiB (MAX_ARG_STRLEN). */
const MAX_ENV_STRING = 128 * 1024 - 64;
const STDERR_TAIL_LINES = 20;

export interface BuildOptions {
  root: string;
  /** Per-workspace state directory (sandboxes live below it). */
  stateDir: string;
  /** For files on their way into kiln-out (named by pid, so leftovers of a crash can be removed). */
  tempDir: string;
  graph: BuildGraph;
  /** Executable targets asked for; their dependencies are built too. */
  requested: readonly string[];
  jobs: number;
  keepGoing: boolean;
  /** false with --no-cache: everything executes (results are still stored). */
  readCache: boolean;
  explain: boolean;
  store: LocalStore;
  statCache: StatCache;
  stepModules: ReadonlyMap<string, StepModule>;
  tools: ReadonlyMap<string, Tool>;
  /**
   * Labels known up to date without computing their keys (see graph/unchanged-targets.ts):
   * their last results stand.
   */
  unchanged?: ReadonlySet<string>;
  /** What each label was last built as, and where to record the new one. */
  lastResults: ReadonlyMap<string, LastResult>;
  recordResult: (label: string, key: string, outputs: OutputRecord[]) => void;
  hostEnv: NodeJS.ProcessEnv;
  platform: string;
  reporter: Reporter;
}

export interface BuildOutcome {
  summary: SummaryEvent;
  /** Set when SIGINT or SIGTERM stopped the build (running steps were stopped, not failed). */
  interrupted?: NodeJS.Signals;
  /** Outputs of every target built or restored, by label. */
  outputs: Map<string, OutputRecord[]>;
  failed: string[];
}

interface ActionInput {
  /** Path inside the sandbox = workspace-relative path. */
  path: string;
  digest: ContentDigest;
  /** Where to take the bytes from when laying out a sandbox. */
  from: string;
  /** A user's source (with its size), or an output of the dependency whose directory is `targetDir`. */
  owner: { kind: "source"; size: number } | { kind: "output"; targetDir: string; size: number };
}

type Execution = { ok: true; result: ActionResult } | { ok: false; message: string; command?: string; stderrTail: string; logPath?: string };

export async function runBuild(options: BuildOptions): Promise<BuildOutcome> {
  const started = performance.now();
  const { graph, reporter } = options;
  const labels = [...transitiveClosure(graph, options.requested)].filter(
    (label) => graph.targets.get(label)!.spec.action !== "files",
  );
  const inClosure = new Set(labels);
  const dependants = new Map<string, string[]>();
  const waitingOn = new Map<string, number>();
  for (const label of labels) {
    const deps = graph.targets.get(label)!.deps.filter((d) => inClosure.has(d));
    waitingOn.set(label, deps.length);
    for (const dep of deps) {
      const list = dependants.get(dep);
      if (list) list.push(label);
      else dependants.set(dep, [label]);
    }
  }
  // Targets whose last results stand (never with --no-cache: then everything runs).
  const unchanged = options.readCache ? options.unchanged : undefined;
  // Scheduling priority matters only among targets that may run: unchanged ones complete at once.
  const mayRun = unchanged ? labels.filter((label) => !unchanged.has(label)) : labels;
  const inMayRun = mayRun === labels ? inClosure : new Set(mayRun);
  const height = longestPathToSink(mayRun, (label) => graph.targets.get(label)!.deps.filter((d) => inMayRun.has(d)));
  reporter({ type: "plan", steps: labels.length });

  const outputs = new Map<string, OutputRecord[]>();
  const failed: string[] = [];
  const counts = { executed: 0, cached: 0, cachedLocal: 0 };
  const ready = new MaxHeap<string>();
  for (const label of labels) if (waitingOn.get(label) === 0) ready.push(label, height.get(label) ?? 0);

  const pool = new StepPool(options.jobs);
  const spawner = new CommandSpawner();
  const sandboxes = new SandboxPool(join(options.stateDir, "sandbox"));
  let running = 0;
  let stopped = false;
  let pumping = false;
  let fatal: unknown;
  let interrupted: NodeJS.Signals | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolvePromise) => (finish = resolvePromise));

  // Ctrl-C (or a SIGTERM): start nothing more, stop what runs, then finish normally so the
  // sandboxes are parked and the workspace state saved. A second signal leaves at once.
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(signal === "SIGINT" ? 130 : 143);
    interrupted = signal;
    stopped = true;
    reporter({ type: "warning", message: `interrupted: stopping ${running} running step${running === 1 ? "" : "s"} (again to quit at once)` });
    void spawner.interrupt();
    void pool.close();
    void pump();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const complete = (label: string, records: OutputRecord[]) => {
    outputs.set(label, records);
    for (const dependant of dependants.get(label) ?? []) {
      const left = waitingOn.get(dependant)! - 1;
      waitingOn.set(dependant, left);
      if (left === 0) ready.push(dependant, height.get(dependant) ?? 0);
    }
  };

  const pump = async () => {
    if (pumping) return;
    pumping = true;
    try {
      while (!stopped && running < options.jobs && ready.size > 0) {
        const label = ready.pop()!;
        const target = graph.targets.get(label)!;
        const standing = unchanged?.has(label) ? options.lastResults.get(label) : undefined;
        if (standing) {
          counts.cached++;
          counts.cachedLocal++;
          reporter({ type: "step", label, status: "cached", cache: "local", key: standing.key, ms: 0 });
          complete(label, standing.outputs);
          continue;
        }
        const prepared = await prepare(target, options, outputs);
        if (options.readCache) {
          const outDir = join(options.root, outputDir(target.pkg, target.name));
          const last = options.lastResults.get(label);
          // Up to date: built with this key, outputs in place (by stat). The no-op case, no store access.
          const builtWithKey = last?.key === prepared.key;
          const upToDate = builtWithKey && outputsInPlace(outDir, last.outputs, options.statCache);
          // Built with this key but out of place (a restore): lookup need not stat them again.
          const hit = upToDate ? last : await lookup(prepared, outDir, options, builtWithKey);
          if (hit) {
            if (!upToDate) materializeOutputs(outDir, hit.outputs, options.store, options.statCache, options.tempDir);
            options.recordResult(label, prepared.key, hit.outputs);
            counts.cached++;
            counts.cachedLocal++;
            reporter({ type: "step", label, status: "cached", cache: "local", key: prepared.key, ms: 0 });
            complete(label, hit.outputs);
            continue;
          }
        }
        if (options.explain) {
          const previousKey = options.lastResults.get(label)?.key;
          const previous = previousKey ? options.store.getIngredients(previousKey) : undefined;
          const reasons = options.readCache ? describeKeyChanges(previous, prepared.ingredients) : ["--no-cache"];
          reporter({ type: "explain", label, reasons });
        }
        running++;
        reporter({ type: "started", label });
        void execute(target, prepared, options, { pool, spawner, sandboxes }).then((execution) => {
          running--;
          if (execution.ok) {
            options.recordResult(label, prepared.key, execution.result.outputs);
            counts.executed++;
            reporter({ type: "step", label, status: "executed", cache: null, key: prepared.key, ms: Math.round(execution.result.ms) });
            complete(label, execution.result.outputs);
          } else if (interrupted) {
            failed.push(label);
            reporter({ type: "failure", label, command: execution.command, message: `interrupted by ${interrupted}`, stderrTail: "" });
            reporter({ type: "step", label, status: "failed", cache: null, key: prepared.key, ms: 0 });
          } else {
            failed.push(label);
            reporter({ type: "failure", label, command: execution.command, message: execution.message, stderrTail: execution.stderrTail, logPath: execution.logPath });
            reporter({ type: "step", label, status: "failed", cache: null, key: prepared.key, ms: 0 });
            if (!options.keepGoing) stopped = true;
          }
          void pump();
        }, (error: unknown) => {
          // kiln's own failure while running it (the cache's disk is full...): as below.
          running--;
          fatal ??= error;
          stopped = true;
          void pump();
        });
      }
    } catch (error) {
      // Not a step failure but kiln's own (a source vanished mid-build, the disk is full...).
      fatal ??= error;
      stopped = true;
    }
    pumping = false;
    if (running === 0 && (stopped || ready.size === 0)) finish();
  };

  await pump();
  await finished;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  spawner.close();
  sandboxes.close();
  await pool.close();
  await settleRemovals();
  if (fatal) throw fatal;

  const summary: SummaryEvent = {
    type: "summary",
    steps: labels.length,
    executed: counts.executed,
    cached: counts.cached,
    cachedLocal: counts.cachedLocal,
    cachedRemote: 0,
    failed: failed.length,
    ms: Math.round(performance.now() - started),
  };
  for (const label of labels) {
    if (!outputs.has(label) && !failed.includes(label)) {
      const because = interrupted ? "the build was interrupted" : stopped ? "the build stopped after a failure" : "a dependency failed";
      reporter({ type: "skipped", label, because });
    }
  }
  // The caller reports the summary: it ends the output, after anything the caller adds.
  return { summary, outputs, failed, interrupted };
}

interface PreparedAction {
  key: ActionKey;
  ingredients: KeyIngredients;
  /** Inputs in declaration order, per srcs name. */
  named: Map<string, { inputs: ActionInput[]; single: boolean }>;
}

/** Digests every input and computes the key. */
async function prepare(target: GraphTarget, options: BuildOptions, outputs: Map<string, OutputRecord[]>): Promise<PreparedAction> {
  const named = new Map<string, { inputs: ActionInput[]; single: boolean }>();
  const all = new Map<string, ContentDigest>();
  for (const [name, resolved] of Object.entries(target.inputs)) {
    const inputs: ActionInput[] = [];
    for (const input of resolved) {
      if (input.kind === "source") {
        const from = join(options.root, input.path);
        const { digest, size } = await options.statCache.digest(from);
        inputs.push({ path: input.path, digest, from, owner: { kind: "source", size } });
      } else {
        const dep = options.graph.targets.get(input.label)!;
        const dir = outputDir(dep.pkg, dep.name);
        for (const record of outputs.get(input.label) ?? []) {
          // Materialized before the dependant became ready, from a verified blob or by this build.
          const owner = { kind: "output" as const, targetDir: dir, size: record.size };
          inputs.push({ path: `${dir}/${record.name}`, digest: record.digest, from: join(options.root, dir, record.name), owner });
        }
      }
    }
    for (const input of inputs) all.set(input.path, input.digest);
    const refs = target.spec.srcs[name] ?? [];
    const single = refs.length === 1 && !/[*?[\]{}]/.test(refs[0]!) && inputs.length === 1;
    named.set(name, { inputs, single });
  }
  const spec = target.spec;
  let code: string;
  if (spec.action === "cmd") code = spec.cmd!;
  else {
    const ref = resolveRunReference(options.root, target.pkg, spec.run!);
    code = `${options.stepModules.get(ref.entry)!.codeDigest}#${ref.exportName}`;
  }
  const env = sandboxEnvFor(spec.env, spec.passEnv, options.hostEnv);
  const ingredients: KeyIngredients = {
    format: KEY_FORMAT,
    label: target.label,
    rule: spec.rule,
    action: spec.action,
    code,
    params: spec.params ?? null,
    inputs: [...all].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    outs: [...spec.outs].sort(),
    env: Object.entries(env).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    tools: (spec.tools ?? []).map((name) => [name, options.tools.get(name)!.version] as [string, string]),
    platform: options.platform,
  };
  return { key: computeKey(ingredients), ingredients, named };
}

function sandboxEnvFor(env: Record<string, string> | undefined, passEnv: string[] | undefined, hostEnv: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = { ...(env ?? {}) };
  for (const name of passEnv ?? []) result[name] = hostEnv[name] ?? "";
  return result;
}

/**
 * A cache entry whose outputs are already in kiln-out (known by stat: the no-op case, no blob is
 * touched) or whose every blob is present and intact; anything less is a miss.
 */
/**
 * The cached result of `key`, its blobs verified unless its outputs are already in place.
 * `knownOutOfPlace`: the caller just found this key's outputs missing or changed in kiln-out.
 */
async function lookup(prepared: PreparedAction, outDir: string, options: BuildOptions, knownOutOfPlace: boolean): Promise<ActionResult | undefined> {
  // A record whose outputs are not the key's declared outs is damage, not a hit (see getAction).
  const result = options.store.getAction(prepared.key, prepared.ingredients.outs);
  if (!result) return undefined;
  if (!knownOutOfPlace && outputsInPlace(outDir, result.outputs, options.statCache)) return result;
  for (const output of result.outputs) {
    if (!(await options.store.hasValidBlob(output.digest))) {
      options.reporter({ type: "warning", message: `cache blob ${output.digest.slice(0, 12)} (${output.name}) was missing or corrupt; rebuilding` });
      return undefined;
    }
  }
  return result;
}

/** What runs actions, shared by the whole build. */
interface Runners {
  pool: StepPool;
  spawner: CommandSpawner;
  sandboxes: SandboxPool;
}

async function execute(target: GraphTarget, prepared: PreparedAction, options: BuildOptions, runners: Runners): Promise<Execution> {
  const started = performance.now();
  const { pool, spawner } = runners;
  const sandbox = runners.sandboxes.claim(target.label);
  try {
    const all = [...prepared.named.values()].flatMap(({ inputs }) => inputs);
    const ordered = all.map((input) => input.path);
    const outRelative = outputDir(target.pkg, target.name);
    const needed = new Set([outRelative]);
    for (const input of all) needed.add(dirname(input.path));
    if ((target.spec.tools ?? []).length > 0) needed.add(".bin");
    needed.delete(".");
    sandbox.prepareDirectories(needed);
    layOutInputs(sandbox, all, options);
    sandbox.removeUnused();
    const outAbsolute = sandbox.path(outRelative);

    const spec = target.spec;
    let failure: Execution | undefined;
    let log = "";
    if (spec.action === "cmd") {
      const run = await runCmdAction(target, prepared, options, sandbox, spawner, ordered, outAbsolute);
      log = run.log;
      if (!run.ok) failure = run;
    } else {
      const ref = resolveRunReference(options.root, target.pkg, spec.run!);
      const srcs: Record<string, string | string[]> = {};
      for (const [name, { inputs, single }] of prepared.named) {
        const paths = inputs.map((input) => sandbox.path(input.path));
        srcs[name] = single ? paths[0]! : paths;
      }
      const outcome = await pool.run({
        bundlePath: options.stepModules.get(ref.entry)!.bundlePath,
        exportName: ref.exportName,
        label: target.label,
        srcs,
        params: spec.params ?? null,
        outDir: outAbsolute,
        seed: Number.parseInt(prepared.key.slice(0, 8), 16) >>> 0,
      });
      log = outcome.log;
      if (!outcome.ok) {
        const kind = spec.test ? "test failed" : "step failed";
        failure = { ok: false, message: `${kind}: ${cleanStack(outcome.error)}`, stderrTail: tail(outcome.log) };
      }
    }
    const modified = await sandbox.changedSharedInputs();
    if (modified.length > 0) {
      // The original changed too (shared, not copied). Forget its stat: the next build finds it
      // out of place, and the blob it shares an inode with fails verification and is rebuilt.
      for (const relative of modified) options.statCache.forget(join(options.root, relative));
      failure = {
        ok: false,
        command: spec.cmd,
        stderrTail: tail(log),
        message:
          `the step wrote to its inputs ${modified.join(", ")}; inputs are read-only ` +
          `(dependencies' outputs and sources over 64 MiB are shared, not copied): write new files to $OUT instead`,
      };
    }
    if (failure) {
      // The failed run is not cached, but its full log is kept in the store for `full log:`.
      if (log.length > 0 && !failure.ok) failure.logPath = storeLog(sandbox, log, options);
      return failure;
    }

    const written = listFiles(outAbsolute);
    const declared = new Set(spec.outs);
    const missing = spec.outs.filter((name) => !existsSync(join(outAbsolute, name)));
    const undeclared = written.filter((name) => !declared.has(name));
    if (missing.length > 0 || undeclared.length > 0) {
      const problems = [
        ...missing.map((name) => `declared output "${name}" was not written (expected at ${outRelative}/${name})`),
        ...(undeclared.length > 0 ? [`wrote undeclared outputs: ${undeclared.join(", ")} (declare them in outs)`] : []),
      ];
      return { ok: false, message: problems.join("; "), command: spec.cmd, stderrTail: tail(log) };
    }

    const records: OutputRecord[] = [];
    for (const name of [...spec.outs].sort()) {
      const file = join(outAbsolute, name);
      // Hashed directly: the stat cache would remember a sandbox path only to forget it.
      const { size } = statSync(file);
      const digest = await digestFileOfSize(file, size);
      options.store.insertBlob(file, digest);
      records.push({ name, digest, size });
    }
    const result: ActionResult = {
      outputs: records,
      ms: performance.now() - started,
      createdAt: Date.now(),
    };
    const previousKey = options.lastResults.get(target.label)?.key;
    if (previousKey && previousKey !== prepared.key) result.previousKey = previousKey;
    if (log.length > 0) {
      const logPath = storeLog(sandbox, log, options);
      result.log = logPath.slice(logPath.lastIndexOf("/") + 1) as ContentDigest;
    }
    options.store.putAction(prepared.key, result, prepared.ingredients);
    materializeOutputs(join(options.root, outRelative), records, options.store, options.statCache, options.tempDir);
    return { ok: true, result };
  } finally {
    runners.sandboxes.release(sandbox);
  }
}

/** Lays out an action's inputs: sources copied (or linked when large), dependencies' outputs hard-linked. */
function layOutInputs(sandbox: Sandbox, inputs: readonly ActionInput[], options: BuildOptions): void {
  for (const input of inputs) {
    if (input.owner.kind === "source") {
      sandbox.placeSource(input.path, input.from, input.digest, input.owner.size);
      continue;
    }
    const known = options.statCache.statOf(input.from);
    const stats = known ? { size: known[0], mtimeMs: known[1], ino: known[2] } : statSync(input.from);
    sandbox.placeLinkedOutput(input.path, input.from, { relative: input.path, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, digest: input.digest });
  }
}

/** Puts a step's log into the blob store; returns the blob's path. */
function storeLog(sandbox: Sandbox, log: string, options: BuildOptions): string {
  const logFile = sandbox.path(".kiln-log");
  writeFileSync(logFile, log);
  const digest = digestBytes(log);
  options.store.insertBlob(logFile, digest);
  return options.store.blobPath(digest);
}

async function runCmdAction(
  target: GraphTarget,
  prepared: PreparedAction,
  options: BuildOptions,
  sandbox: Sandbox,
  spawner: CommandSpawner,
  ordered: string[],
  outAbsolute: string,
): Promise<{ ok: true; log: string } | (Execution & { ok: false; log: string })> {
  const spec = target.spec;
  const command = spec.cmd!;
  const srcsFile = sandbox.path(".kiln-srcs");
  overwriteFile(srcsFile, ordered.length > 0 ? `${ordered.join("\n")}\n` : "");
  // Declared tools are linked into the sandbox's own bin directory, in front of the fixed PATH.
  let path = SANDBOX_PATH;
  if (spec.tools && spec.tools.length > 0) {
    const binDir = sandbox.path(".bin");
    for (const name of spec.tools) symlinkSync(options.tools.get(name)!.path, join(binDir, name));
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
  const run = await spawner.run(command, sandbox.dir, env);
  // A command that never started left no output; the files may hold an earlier use's.
  const stdout = run.spawnError ? "" : readSmall(sandbox.path(STDOUT_FILE));
  const stderr = run.spawnError ? "" : readSmall(sandbox.path(STDERR_FILE));
  const log = [stdout, stderr].filter((s) => s.length > 0).join("\n");
  if (run.spawnError || run.lostError || run.exitCode !== 0) {
    const how = run.spawnError
      ? `could not start: ${run.spawnError}`
      : run.lostError
        ? `ended without a status: ${run.lostError}`
        : run.exitCode === null
        ? `killed by ${run.signal}`
        : `exited with code ${run.exitCode}${run.signal ? ` (128 + ${run.signal}: killed by a signal?)` : ""}`;
    return { ok: false, command, message: `command ${how}`, stderrTail: tail(stderr || stdout), log };
  }
  return { ok: true, log };
}

function readSmall(file: string): string {
  return statSync(file).size === 0 ? "" : readFileSync(file, "utf8");
}

function tail(text: string): string {
  const lines = text.trimEnd().split("\n");
  return lines.slice(-STDERR_TAIL_LINES).join("\n");
}

/** A step's error without kiln's own frames. */
function cleanStack(stack: string): string {
  return stack
    .split("\n")
    .filter((line) => !line.includes("/step-worker.js") && !line.includes("node:internal") && !line.includes("/piscina/"))
    .join("\n");
}
