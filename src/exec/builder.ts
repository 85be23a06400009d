/**
 * Executes a validated graph. Each action, once its inputs are ready, gets its key from the
 * digests of its inputs; a valid cache entry is materialized, anything else runs in a sandbox
 * (a shell for `cmd`, a step runner process for `step`), up to `jobs` at once, longest remaining
 * path first. Outputs enter the store before the action result does, and failed results are never
 * cached. Early cutoff falls out of content keys: a dependant whose input bytes did not change
 * gets the same key and stays cached.
 */
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, readSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { ActionCache } from "../cache/action-cache.js";
import type { ActionOrigins, ActionResult, LocalStore, OutputRecord } from "../cache/local-store.js";
import type { ResolvedSource } from "../lock/sources.js";
import { materializeOutputs, outputsInPlace } from "../cache/materialize.js";
import { computeKey, describeKeyChanges, KEY_FORMAT, type ActionKey, type KeyIngredients } from "../key/action-key.js";
import { digestBytes, digestFileOfSize, type ContentDigest } from "../key/digest.js";
import type { StatCache } from "../state/stat-cache.js";
import type { StepModule } from "../key/step-bundle.js";
import { outputDir, transitiveClosure, type BuildGraph, type GraphTarget } from "../graph/action-graph.js";
import { longestPathToSink } from "../graph/cycle.js";
import type { Reporter, SummaryEvent } from "../events.js";
import { MaxHeap } from "./heap.js";
import { overwriteFile } from "../overwrite-file.js";
import { CommandSpawner, STDERR_FILE, STDOUT_FILE } from "./command-spawner.js";
import { resolveRunReference } from "./run-ref.js";
import type { Sandbox } from "./sandbox.js";
import { describeFileFault, isFileFault, KilnError } from "../errors.js";
import { toolRoots, type SandboxChoice, type SandboxMode } from "./namespace-sandbox.js";
import { chooseIsolation, commandWrapper, type Isolation } from "./isolation.js";
import { checkSandboxInputs, type ExpectedInput } from "./sandbox-check.js";
import { recordIdentity } from "../key/file-identity.js";
import { SHARED_INPUT_SIZE } from "../size-thresholds.js";
import { KILN_ROOT } from "../kiln-install.js";
import { SandboxPool } from "./sandbox-pool.js";
import { StepPool } from "./step-pool.js";
import { listOutputs } from "./output-listing.js";
import type { Tool } from "./tools.js";
import type { LastResult } from "../state/workspace-state.js";

/** The PATH every `cmd` sees (plus the sandbox's own tool directory in front). */
export const SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin";
/** Linux refuses a single environment string over 128 KiB (MAX_ARG_STRLEN). */
const MAX_ENV_STRING = 128 * 1024 - 64;
const STDERR_TAIL_LINES = 20;
/**
 * Targets keyed and looked up at once. A remote lookup is a few HTTP round trips: 16 in flight
 * hide loopback or LAN latency; local lookups are stats and an LMDB read, which do not mind.
 */
const LOOKUP_CONCURRENCY = 16;
/** Bytes of a command's stdout (and of its stderr) kept in its log. */
const LOG_STREAM_LIMIT = 1 << 20;

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
  /** Where results are looked up and stored (the local store, maybe a remote behind it). */
  cache: ActionCache;
  /** The local store: blobs of new outputs and logs go in here, and kiln-out is placed from it. */
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
  /** Aborting stops the build: nothing more starts, running commands are ended (see runBuild). */
  signal: AbortSignal;
  /** How `cmd` steps are isolated (namespace-sandbox.ts). */
  sandbox: SandboxChoice;
  /** The `@source`s the graph's targets read, resolved to files (lock/build-sources.ts). */
  sources?: ReadonlyMap<string, ResolvedSource>;
}

export interface BuildOutcome {
  summary: SummaryEvent;
  /** The abort reason (e.g. "SIGINT") when the build was stopped (running steps were stopped, not failed). */
  interrupted?: string;
  /** Outputs of every target built or restored, by label. */
  outputs: Map<string, OutputRecord[]>;
  failed: string[];
  /** Labels among `failed` whose failure was the machine's, not the step's (exit 2). */
  environmentFaults: string[];
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

/**
 * How a step ended. A failure's `fault` says whose it is: the step's own (its command or
 * function failed), the machine's ("environment": a source vanished, the disk is full; the build
 * exits 2) or kiln's ("kiln": a sandbox that is not what kiln laid out).
 */
type Execution =
  | { ok: true; result: ActionResult }
  | { ok: false; message: string; command?: string; stderrTail: string; logPath?: string; fault?: "environment" | "kiln" };

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
  const environmentFaults: string[] = [];
  const counts = { executed: 0, cached: 0, cachedLocal: 0, cachedRemote: 0 };
  const ready = new MaxHeap<string>();
  for (const label of labels) if (waitingOn.get(label) === 0) ready.push(label, height.get(label) ?? 0);

  const pool = new StepPool(options.jobs);
  const spawner = new CommandSpawner();
  const sandboxes = new SandboxPool(join(options.stateDir, "sandbox"));
  let isolation: Isolation | undefined;
  const isolationOnce = () => (isolation ??= chooseIsolation(options.sandbox, options.stateDir, options.hostEnv.PATH, reporter));
  let running = 0;
  /** Lookups under way (keys being computed, the cache asked). */
  let looking = 0;
  /** Misses waiting for a job slot. */
  const toRun = new MaxHeap<{ target: GraphTarget; prepared: PreparedAction }>();
  let stopped = false;
  let pumping = false;
  let fatal: unknown;
  let interrupted: string | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolvePromise) => (finish = resolvePromise));

  // An abort (the CLI's Ctrl-C or SIGTERM): start nothing more and stop what runs (SIGTERM to
  // each command's process group, SIGKILL after 2 s), then finish normally so the sandboxes are
  // parked and the workspace state saved. The build returns only once every command has ended.
  let stopping: Promise<unknown> = Promise.resolve();
  const onAbort = () => {
    interrupted = String(options.signal.reason ?? "abort");
    stopped = true;
    reporter({ type: "warning", message: `interrupted: stopping ${running} running step${running === 1 ? "" : "s"}` });
    stopping = Promise.all([spawner.interrupt(), pool.close()]);
    pump();
  };
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener("abort", onAbort, { once: true });

  // The key each finished label was built or restored with: a dependant records it (ActionOrigins).
  const keys = new Map<string, string>();
  const complete = (label: string, records: OutputRecord[], key: string) => {
    outputs.set(label, records);
    keys.set(label, key);
    for (const dependant of dependants.get(label) ?? []) {
      const left = waitingOn.get(dependant)! - 1;
      waitingOn.set(dependant, left);
      if (left === 0) ready.push(dependant, height.get(dependant) ?? 0);
    }
  };

  const fail = (label: string, key: string, execution: Execution & { ok: false }) => {
    failed.push(label);
    if (interrupted) {
      reporter({ type: "failure", label, command: execution.command, message: `interrupted by ${interrupted}`, stderrTail: "" });
    } else {
      if (execution.fault === "environment") environmentFaults.push(label);
      reporter({ type: "failure", label, command: execution.command, message: execution.message, stderrTail: execution.stderrTail, logPath: execution.logPath });
      if (!options.keepGoing) stopped = true;
    }
    reporter({ type: "step", label, status: "failed", cache: null, key, ms: 0 });
  };

  /**
   * Starts what may start: executions of misses first (up to -j), then lookups of ready targets
   * (up to LOOKUP_CONCURRENCY). A lookup keys the target and asks the cache; it holds no job slot,
   * so a remote cache's round trips overlap each other and running steps instead of queueing
   * behind them. A miss waits in `toRun` for a slot, longest remaining path first.
   */
  const pump = (): void => {
    if (pumping) return;
    pumping = true;
    while (!stopped && running < options.jobs && toRun.size > 0) startExecution(toRun.pop()!);
    while (!stopped && looking < LOOKUP_CONCURRENCY && ready.size > 0) {
      const label = ready.pop()!;
      const standing = unchanged?.has(label) ? options.lastResults.get(label) : undefined;
      if (standing) {
        counts.cached++;
        counts.cachedLocal++;
        reporter({ type: "step", label, status: "cached", cache: "local", key: standing.key, ms: 0 });
        complete(label, standing.outputs, standing.key);
        continue;
      }
      looking++;
      void lookUp(label).then(() => {
        looking--;
        pump();
      });
    }
    pumping = false;
    if (running === 0 && looking === 0 && (stopped || (ready.size === 0 && toRun.size === 0))) finish();
  };

  /** Keys `label` and restores it from the cache, or queues it to run. Never throws. */
  const lookUp = async (label: string): Promise<void> => {
    const target = graph.targets.get(label)!;
    let prepared: PreparedAction;
    let hit: { outputs: OutputRecord[]; source: "local" | "remote" } | undefined;
    try {
      prepared = await prepare(target, options, outputs, keys);
      hit = options.readCache ? await restore(target, prepared, options) : undefined;
    } catch (error) {
      // The machine's fault, not the step's: a source vanished, the disk is full...
      fail(label, "", faultExecution(error));
      return;
    }
    if (hit) {
      // Only for actions reading @sources: a hit otherwise needs no store access at all.
      if (Object.keys(prepared.origins.sources).length > 0) options.store.refreshOrigins(prepared.key, prepared.origins);
      options.recordResult(label, prepared.key, hit.outputs);
      counts.cached++;
      if (hit.source === "remote") counts.cachedRemote++;
      else counts.cachedLocal++;
      reporter({ type: "step", label, status: "cached", cache: hit.source, key: prepared.key, ms: 0 });
      complete(label, hit.outputs, prepared.key);
      return;
    }
    if (options.explain) {
      const previousKey = options.lastResults.get(label)?.key;
      const previous = previousKey ? options.store.getIngredients(previousKey) : undefined;
      const reasons = options.readCache ? describeKeyChanges(previous, prepared.ingredients) : ["--no-cache"];
      reporter({ type: "explain", label, reasons });
    }
    toRun.push({ target, prepared }, height.get(label) ?? 0);
  };

  const startExecution = ({ target, prepared }: { target: GraphTarget; prepared: PreparedAction }): void => {
    const label = target.label;
    running++;
    reporter({ type: "started", label });
    void execute(target, prepared, options, { pool, spawner, sandboxes, isolation: isolationOnce })
      .then((execution) => {
        running--;
        if (execution.ok) {
          options.recordResult(label, prepared.key, execution.result.outputs);
          counts.executed++;
          reporter({ type: "step", label, status: "executed", cache: null, key: prepared.key, ms: Math.round(execution.result.ms) });
          complete(label, execution.result.outputs, prepared.key);
        } else {
          fail(label, prepared.key, execution);
        }
      })
      .catch((error: unknown) => {
        // kiln's own bookkeeping failed after the step (not the step): stop, report it once.
        fatal ??= error;
        stopped = true;
      })
      .finally(pump);
  };

  pump();
  await finished;
  await stopping;
  options.signal.removeEventListener("abort", onAbort);
  spawner.close();
  await Promise.all([sandboxes.close(), pool.close()]);
  if (fatal) throw fatal;

  const summary: SummaryEvent = {
    type: "summary",
    steps: labels.length,
    executed: counts.executed,
    cached: counts.cached,
    cachedLocal: counts.cachedLocal,
    cachedRemote: counts.cachedRemote,
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
  return { summary, outputs, failed, interrupted, environmentFaults };
}

interface PreparedAction {
  key: ActionKey;
  ingredients: KeyIngredients;
  /** Inputs in declaration order, per srcs name. */
  named: Map<string, { inputs: ActionInput[]; single: boolean }>;
  origins: ActionOrigins;
}

/** Digests every input and computes the key. */
async function prepare(target: GraphTarget, options: BuildOptions, outputs: Map<string, OutputRecord[]>, keys: ReadonlyMap<string, string>): Promise<PreparedAction> {
  const named = new Map<string, { inputs: ActionInput[]; single: boolean }>();
  const all = new Map<string, ContentDigest>();
  const origins: ActionOrigins = { deps: [], sources: {} };
  // A Set beside the list: an aggregator over 10,000 targets would scan it 10,000 times.
  const depsRecorded = new Set<string>();
  for (const [name, resolved] of Object.entries(target.inputs)) {
    const inputs: ActionInput[] = [];
    for (const input of resolved) {
      if (input.kind === "source") {
        const from = join(options.root, input.path);
        const { digest, size } = await options.statCache.digest(from);
        inputs.push({ path: input.path, digest, from, owner: { kind: "source", size } });
      } else if (input.kind === "external") {
        const source = options.sources?.get(input.name);
        if (!source) throw new Error(`source @${input.name} was not resolved for ${target.label}`);
        origins.sources[input.name] = source.entry;
        for (const file of source.files) {
          inputs.push({ path: file.path, digest: file.digest, from: file.from, owner: { kind: "source", size: file.size } });
        }
      } else {
        if (keys.has(input.label) && !depsRecorded.has(input.label)) {
          depsRecorded.add(input.label);
          origins.deps.push([input.label, keys.get(input.label)!]);
        }
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
    const module = options.stepModules.get(ref.entry)!;
    code = `${module.codeDigest}#${ref.exportName}`;
    origins.code = module.files.map(([file, digest]) => [portableCodePath(options.root, file), digest] as [string, string]);
  }
  origins.deps.sort((a, b) => (a[0] < b[0] ? -1 : 1));
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
  if (spec.network) ingredients.network = true;
  return { key: computeKey(ingredients), ingredients, named, origins };
}

/**
 * A code file's name for provenance, free of machine paths: workspace-relative; `kiln:<path>` for
 * kiln's own files; `node_modules/<package>/...` for an installed package's (its package.json
 * carries the version).
 */
function portableCodePath(root: string, file: string): string {
  const packages = file.lastIndexOf("/node_modules/");
  if (packages !== -1) return file.slice(packages + 1);
  if (file.startsWith(`${root}/`)) return file.slice(root.length + 1);
  if (file.startsWith(`${KILN_ROOT}/`)) return `kiln:${file.slice(KILN_ROOT.length + 1)}`;
  return file;
}

function sandboxEnvFor(env: Record<string, string> | undefined, passEnv: string[] | undefined, hostEnv: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = { ...(env ?? {}) };
  for (const name of passEnv ?? []) result[name] = hostEnv[name] ?? "";
  return result;
}

/**
 * The cached result for `key`, with its outputs put in kiln-out, or undefined (a miss): outputs
 * already in place when the label was last built with this key (the no-op case, no store access),
 * else a verified entry from the store.
 */
async function restore(target: GraphTarget, prepared: PreparedAction, options: BuildOptions): Promise<{ outputs: OutputRecord[]; source: "local" | "remote" } | undefined> {
  const outDir = join(options.root, outputDir(target.pkg, target.name));
  const last = options.lastResults.get(target.label);
  const { key } = prepared;
  const builtWithKey = last?.key === key;
  if (builtWithKey && outputsInPlace(outDir, last.outputs, options.statCache)) return { outputs: last.outputs, source: "local" };
  // Built with this key but out of place: lookup need not stat them again.
  const hit = await options.cache.lookup(key, { label: target.label, outDir, knownOutOfPlace: builtWithKey, outs: prepared.ingredients.outs });
  if (!hit) return undefined;
  materializeOutputs(outDir, hit.result.outputs, options.store, options.statCache, options.tempDir);
  return { outputs: hit.result.outputs, source: hit.source };
}

/** What runs actions, shared by the whole build. */
interface Runners {
  pool: StepPool;
  spawner: CommandSpawner;
  sandboxes: SandboxPool;
  /** How `cmd` steps are isolated in this build, decided at the first one that runs. */
  isolation: () => Isolation;
}

/**
 * Runs one action in a sandbox. Whatever goes wrong, including kiln's own file operations (a
 * source deleted mid-build, a full disk), ends as a failed Execution naming the cause, never as
 * an exception: the build goes on or stops cleanly, and a sandbox in doubt is dropped, not reused.
 */
async function execute(target: GraphTarget, prepared: PreparedAction, options: BuildOptions, runners: Runners): Promise<Execution> {
  let sandbox: Sandbox;
  try {
    sandbox = runners.sandboxes.claim(target.label);
  } catch (error) {
    return faultExecution(error, undefined, "make a sandbox");
  }
  let reusable = false;
  try {
    const execution = await executeIn(sandbox, target, prepared, options, runners);
    reusable = execution.ok || execution.fault === undefined;
    return execution;
  } catch (error) {
    return faultExecution(error, target.spec.cmd);
  } finally {
    if (reusable) runners.sandboxes.release(sandbox);
    else runners.sandboxes.discard(sandbox);
  }
}

/**
 * An exception thrown while kiln worked on a step, as a failed Execution: the machine's fault
 * (a file operation refused or failed: a source removed mid-build, a full disk; exit 2) with one
 * line naming the operation and the path, or else kiln's own, reported as the bug it is.
 */
function faultExecution(error: unknown, command?: string, doing?: string): Execution & { ok: false } {
  const environment = error instanceof KilnError ? error.kind === "environment" : isFileFault(error);
  const text = environment ? describeFileFault(error) : `${error instanceof Error ? error.message : String(error)}. This is a bug in kiln; please report it`;
  return { ok: false, command, stderrTail: "", fault: environment ? "environment" : "kiln", message: doing ? `kiln could not ${doing}: ${text}` : text };
}

async function executeIn(sandbox: Sandbox, target: GraphTarget, prepared: PreparedAction, options: BuildOptions, runners: Runners): Promise<Execution> {
  const started = performance.now();
  const { pool, spawner } = runners;
  {
    const all = [...prepared.named.values()].flatMap(({ inputs }) => inputs);
    const ordered = all.map((input) => input.path);
    const outRelative = outputDir(target.pkg, target.name);
    const needed = new Set([outRelative]);
    for (const input of all) needed.add(dirname(input.path));
    if ((target.spec.tools ?? []).length > 0) needed.add(".bin");
    needed.delete(".");
    sandbox.prepareDirectories(needed);
    const expected = layOutInputs(sandbox, all, options);
    sandbox.removeUnused();
    // A command never runs on a wrong sandbox (see sandbox-check.ts).
    const problems = await checkSandboxInputs(expected, options.statCache);
    if (problems.length > 0) {
      const changed = problems.every((problem) => problem.cause === "changed");
      const list = problems.map((problem) => `${problem.path}: ${problem.detail}`).join("; ");
      return changed
        ? { ok: false, fault: "environment", stderrTail: "", message: `inputs changed during the build (${list}); build again` }
        : { ok: false, fault: "kiln", stderrTail: "", message: `kiln laid out a wrong sandbox, so the step was not run (${list}). This is a bug in kiln; please report it` };
    }
    const outAbsolute = sandbox.path(outRelative);

    const spec = target.spec;
    let failure: Execution | undefined;
    let log = "";
    let sandboxMode: SandboxMode | undefined;
    if (spec.action === "cmd") {
      const isolation = runners.isolation();
      if (isolation.mode === "dir" && isolation.unavailable) {
        return { ok: false, fault: "environment", command: spec.cmd, stderrTail: "", message: isolation.unavailable };
      }
      sandboxMode = isolation.mode;
      const run = await runCmdAction(target, prepared, options, sandbox, spawner, ordered, outAbsolute, isolation);
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
        // In a runner process of its own: the sandbox as working directory, and the environment
        // a cmd gets (no OUT/SRCS: ctx has them), nothing of kiln's.
        cwd: sandbox.dir,
        env: { PATH: SANDBOX_PATH, HOME: sandbox.home, TMPDIR: sandbox.tmp, LANG: "C.UTF-8", ...Object.fromEntries(prepared.ingredients.env) },
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

    // Outputs are regular files: nothing else reaches the store or kiln-out (output-listing.ts).
    const { files: written, irregular } = listOutputs(sandbox.dir, outRelative);
    const declared = new Set(spec.outs);
    const irregularNames = new Set(irregular.map((entry) => entry.name));
    const missing = irregularNames.has(".") ? [] : spec.outs.filter((name) => !irregularNames.has(name) && !existsSync(join(outAbsolute, name)));
    const undeclared = written.filter((name) => !declared.has(name));
    if (missing.length > 0 || undeclared.length > 0 || irregular.length > 0) {
      const problems = [
        ...irregular.map(({ name, kind }) => `${outRelative}${name === "." ? "" : `/${name}`} is ${kind}; outputs must be regular files (copy the bytes instead)`),
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
    if (sandboxMode) result.sandbox = sandboxMode;
    if (spec.network) result.network = true;
    const previousKey = options.lastResults.get(target.label)?.key;
    if (previousKey && previousKey !== prepared.key) result.previousKey = previousKey;
    if (log.length > 0) {
      const logPath = storeLog(sandbox, log, options);
      result.log = logPath.slice(logPath.lastIndexOf("/") + 1) as ContentDigest;
    }
    options.cache.store(prepared.key, result, prepared.ingredients, prepared.origins);
    materializeOutputs(join(options.root, outRelative), records, options.store, options.statCache, options.tempDir);
    return { ok: true, result };
  }
}

/**
 * Lays out an action's inputs: sources copied (or linked when large), dependencies' outputs
 * hard-linked. Returns what the sandbox should now hold, for checkSandboxInputs.
 */
function layOutInputs(sandbox: Sandbox, inputs: readonly ActionInput[], options: BuildOptions): ExpectedInput[] {
  const expected: ExpectedInput[] = [];
  for (const input of inputs) {
    const inSandbox = sandbox.path(input.path);
    if (input.owner.kind === "source") {
      sandbox.placeSource(input.path, input.from, input.digest, input.owner.size);
      const linked = input.owner.size > SHARED_INPUT_SIZE ? options.statCache.identityOf(input.from) : undefined;
      expected.push({ path: input.path, inSandbox, digest: input.digest, size: input.owner.size, source: input.from, linkedIdentity: linked });
      continue;
    }
    const identity = options.statCache.identityOf(input.from) ?? recordIdentity(statSync(input.from), "kiln", 0);
    const [size, mtimeMs, ino] = identity;
    sandbox.placeLinkedOutput(input.path, input.from, { relative: input.path, size, mtimeMs, ino, digest: input.digest });
    expected.push({ path: input.path, inSandbox, digest: input.digest, size: input.owner.size, linkedIdentity: identity });
  }
  return expected;
}

/** Puts a step's log into the blob store; returns the blob's path. */
function storeLog(sandbox: Sandbox, log: string, options: BuildOptions): string {
  const logFile = sandbox.path(".kiln-log");
  // Made anew, exclusively: a link the step left at this name must not be written through.
  rmSync(logFile, { force: true });
  writeFileSync(logFile, log, { flag: "wx" });
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
  isolation: Isolation,
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
  const wrapper = commandWrapper(isolation, {
    sandboxDir: sandbox.dir,
    writable: [outAbsolute, sandbox.tmp],
    tools: toolRoots((spec.tools ?? []).map((name) => options.tools.get(name)!.path)),
    network: spec.network === true,
  });
  const run = await spawner.run(command, sandbox.dir, env, wrapper);
  // A command that never started left no output; the files may hold an earlier use's.
  const stdout = run.spawnError ? "" : readLogStream(sandbox.path(STDOUT_FILE));
  const stderr = run.spawnError ? "" : readLogStream(sandbox.path(STDERR_FILE));
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

function tail(text: string): string {
  const lines = text.trimEnd().split("\n");
  return lines.slice(-STDERR_TAIL_LINES).join("\n");
}

/** A step's error without kiln's own frames. */
function cleanStack(stack: string): string {
  return stack
    .split("\n")
    .filter((line) => !line.includes("/step-runner.js") && !line.includes("node:internal"))
    .join("\n");
}
