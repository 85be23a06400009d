/**
 * One build of a planned closure, composed of its pieces (docs/DESIGN.md, "How one build
 * flows"): the scheduler orders the targets; for each, the key ingredients are gathered
 * (key/action-inputs.ts) and the cache restores it (cache-steps.ts); a miss goes to the executor,
 * and its result is stored and materialized through the cache. Every piece is data in and data
 * out: the builder reports events and returns what happened (including each label's new
 * result), and the session, which owns what lives across builds, records it.
 *
 * Early cutoff falls out of content keys: a dependant whose input bytes did not change gets the
 * same key and stays cached. Failed results are never cached.
 */
import { join } from "node:path";
import type { ActionCache } from "../cache/action-cache.js";
import type { OutputRecord } from "../cache/local-store.js";
import type { Reporter, SummaryEvent, Tracer } from "../events.js";
import { outputDir, type BuildGraph } from "../graph/action-graph.js";
import { longestPathToSink } from "../graph/cycle.js";
import { standingInClosedSet } from "../graph/standing.js";
import { prepareAction, type FinishedDependency, type KeyContext, type PreparedAction } from "../key/action-inputs.js";
import { describeKeyChanges } from "../key/action-key.js";
import type { LastResult } from "../state/workspace-state.js";
import { restoreFromCache, storeExecuted } from "./cache-steps.js";
import { faultExecution, type Executor, type FailedExecution } from "./executor.js";
import { Scheduler, type LookOutcome, type RunOutcome, type StepCanceller } from "./scheduler.js";

/**
 * Targets keyed and looked up at once. A remote lookup is a few HTTP round trips: 16 in flight
 * hide loopback or LAN latency; local lookups are stats and an LMDB read, which do not mind.
 */
const LOOKUP_CONCURRENCY = 16;

export interface BuildOptions {
  root: string;
  graph: BuildGraph;
  /** The executable targets to build, dependencies included (the session's closure, without `files`). */
  labels: readonly string[];
  jobs: number;
  keepGoing: boolean;
  /** false with --no-cache: everything executes (results are still stored). */
  readCache: boolean;
  explain: boolean;
  /** Where results are looked up and stored, and blobs kept (the local store, maybe a remote behind it). */
  cache: ActionCache;
  executor: Executor;
  /** What keying reads beyond the target (stat cache, step modules, tools, sources...); its stat cache also says whether outputs are in place. */
  keys: Omit<KeyContext, "root" | "graph">;
  /**
   * Labels known up to date without computing their keys (see graph/unchanged-targets.ts):
   * their last results stand. Closed under dependencies, as unchangedTargets returns it (one
   * that is not is still handled right, only slower: graph/standing.ts).
   */
  unchanged?: ReadonlySet<string>;
  /** What each label was last built as (read only: new results come back in the outcome). */
  lastResults: ReadonlyMap<string, LastResult>;
  reporter: Reporter;
  /** Aborting stops the build: nothing more starts, running steps are ended. */
  signal: AbortSignal;
  /** Receives timed slices (key computation, cache lookups, steps) for --profile. */
  trace?: Tracer;
  /** Watch mode: called with the scheduler once the build starts, to cancel steps an edit made obsolete. */
  onScheduler?: (scheduler: StepCanceller) => void;
}

export interface BuildOutcome {
  summary: SummaryEvent;
  /** The abort reason (e.g. "SIGINT") when the build was stopped (running steps were stopped, not failed). */
  interrupted?: string;
  /** Outputs of every target built or restored, by label. */
  outputs: Map<string, OutputRecord[]>;
  /** Labels whose result is new (another key than the last one they had): for the session to record. */
  results: Map<string, LastResult>;
  failed: string[];
  /** Labels among `failed` whose failure was the machine's or the input data's, not the step's code (exit 2). */
  environmentFaults: string[];
  /** Labels cancelled mid-build (watch mode: an input changed); neither built nor failed. */
  cancelled: string[];
}

export async function runBuild(options: BuildOptions): Promise<BuildOutcome> {
  const started = performance.now();
  const { graph, reporter, cache, executor } = options;
  const labels = options.labels;
  const depsOf = (label: string) => graph.targets.get(label)!.deps;
  // Targets whose last results stand (never with --no-cache: then everything runs).
  const unchanged = options.readCache ? options.unchanged : undefined;
  // Scheduling priority matters only among targets that may run: unchanged ones complete at once.
  const mayRun = unchanged ? labels.filter((label) => !unchanged.has(label)) : labels;
  const inMayRun = new Set(mayRun);
  const height = longestPathToSink(mayRun, (label) => depsOf(label).filter((d) => inMayRun.has(d)));
  reporter({ type: "plan", steps: labels.length, labels, deps: new Map(mayRun.map((label) => [label, depsOf(label)])) });

  const finished = new Map<string, FinishedDependency & { outputs: OutputRecord[] }>();
  const results = new Map<string, LastResult>();
  const environmentFaults: string[] = [];
  const counts = { executed: 0, cached: 0, cachedLocal: 0, cachedRemote: 0 };
  const keyContext: KeyContext = { root: options.root, graph, ...options.keys };
  const interrupted = () => (options.signal.aborted ? String(options.signal.reason ?? "abort") : undefined);
  const outDirOf = (label: string) => {
    const target = graph.targets.get(label)!;
    return join(options.root, outputDir(target.pkg, target.name));
  };
  const record = (label: string, key: string, outputs: OutputRecord[]) => {
    finished.set(label, { key, outputs });
    if (options.lastResults.get(label)?.key !== key) results.set(label, { key, outputs });
  };

  const fail = (label: string, key: string, execution: FailedExecution): { kind: "failed" } => {
    const reason = interrupted();
    if (reason) {
      reporter({ type: "failure", label, command: execution.command, message: `interrupted by ${reason}`, stderrTail: "" });
    } else {
      if (execution.fault === "environment" || execution.fault === "input") environmentFaults.push(label);
      reporter({ type: "failure", label, command: execution.command, message: execution.message, stderrTail: execution.stderrTail, logPath: execution.logPath });
    }
    reporter({ type: "step", label, status: "failed", cache: null, key, ms: 0 });
    return { kind: "failed" };
  };

  /** A result that stands from the last build: done with no key computed. */
  const instant = (label: string): boolean => {
    const standing = unchanged?.has(label) ? options.lastResults.get(label) : undefined;
    if (!standing) return false;
    counts.cached++;
    counts.cachedLocal++;
    reporter({ type: "step", label, status: "cached", cache: "local", key: standing.key, ms: 0 });
    // The last result itself (key and outputs, the shape finished holds): not a copy of each.
    finished.set(label, standing);
    return true;
  };

  /** Keys `label` and restores it from the cache, or hands it on to run. Never throws. */
  const look = async (label: string): Promise<LookOutcome<PreparedAction>> => {
    const target = graph.targets.get(label)!;
    let prepared: PreparedAction;
    let hit: Awaited<ReturnType<typeof restoreFromCache>>;
    try {
      const keyStart = performance.now();
      prepared = await prepareAction(target, keyContext, finished);
      const lookupStart = performance.now();
      options.trace?.span("key", label, keyStart, lookupStart);
      hit = options.readCache ? await restoreFromCache(cache, options.keys.statCache, label, outDirOf(label), prepared, options.lastResults.get(label)) : undefined;
      if (options.readCache) options.trace?.span("lookup", label, lookupStart, performance.now(), { hit: hit ? hit.source : "miss" });
    } catch (error) {
      // The machine's fault, not the step's: a source vanished, the disk is full...
      return fail(label, "", faultExecution(error));
    }
    if (hit) {
      record(label, prepared.key, [...hit.outputs]);
      counts.cached++;
      if (hit.source === "remote") counts.cachedRemote++;
      else counts.cachedLocal++;
      reporter({ type: "step", label, status: "cached", cache: hit.source, key: prepared.key, ms: 0 });
      return { kind: "done" };
    }
    if (options.explain) {
      const previousKey = options.lastResults.get(label)?.key;
      const previous = previousKey ? cache.ingredientsOf(previousKey as PreparedAction["key"]) : undefined;
      const reasons = options.readCache ? describeKeyChanges(previous, prepared.ingredients) : ["--no-cache"];
      reporter({ type: "explain", label, reasons });
    }
    return { kind: "run", work: prepared };
  };

  /** Executes a miss, then stores and materializes its result. */
  const run = async (label: string, prepared: PreparedAction, signal: AbortSignal): Promise<RunOutcome> => {
    const target = graph.targets.get(label)!;
    reporter({ type: "started", label });
    const stepStart = performance.now();
    const execution = await executor.execute({ target, prepared, previousKey: options.lastResults.get(label)?.key }, signal);
    options.trace?.span("step", label, stepStart, performance.now(), { label, status: execution.ok ? "executed" : "failed", deps: [...target.deps].sort() });
    if (!execution.ok) {
      if (execution.cancelled && !options.signal.aborted) {
        reporter({ type: "skipped", label, because: "an input changed while it ran", cancelled: true });
        return { kind: "cancelled" };
      }
      return fail(label, prepared.key, execution);
    }
    try {
      storeExecuted(cache, outDirOf(label), prepared, execution.result);
    } catch (error) {
      return fail(label, prepared.key, faultExecution(error, target.spec.cmd));
    }
    record(label, prepared.key, execution.result.outputs);
    counts.executed++;
    reporter({ type: "step", label, status: "executed", cache: null, key: prepared.key, ms: Math.round(execution.result.ms) });
    return { kind: "done" };
  };

  // Standing results complete first, in one go (graph/standing.ts): the scheduler is left what may run.
  // (Not once aborted: then nothing completes, as the scheduler would have it.)
  const standing = unchanged && !options.signal.aborted ? standingInClosedSet(labels, depsOf, unchanged, (label) => options.lastResults.has(label)) : undefined;
  for (const label of standing ?? []) instant(label);
  const scheduler = new Scheduler<PreparedAction>({
    labels: standing && standing.size > 0 ? labels.filter((label) => !standing.has(label)) : labels,
    depsOf,
    priority: height,
    jobs: options.jobs,
    lookups: LOOKUP_CONCURRENCY,
    keepGoing: options.keepGoing,
    signal: options.signal,
    instant,
    look,
    run,
  });
  // An abort (the CLI's Ctrl-C or SIGTERM): say so once; the scheduler aborts every running
  // step's signal, and the executor stops their processes before the build returns.
  const onAbort = () => {
    const running = scheduler.runningCount;
    reporter({ type: "warning", message: `interrupted: stopping ${running} running step${running === 1 ? "" : "s"}` });
  };
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener("abort", onAbort, { once: true });
  options.onScheduler?.(scheduler);
  const schedule = await scheduler.run();
  options.signal.removeEventListener("abort", onAbort);
  if (schedule.fatal) throw schedule.fatal;

  const summary: SummaryEvent = {
    type: "summary",
    steps: labels.length,
    executed: counts.executed,
    cached: counts.cached,
    cachedLocal: counts.cachedLocal,
    cachedRemote: counts.cachedRemote,
    failed: schedule.failed.length,
    ms: Math.round(performance.now() - started),
  };
  const reason = interrupted();
  for (const label of schedule.notReached) {
    const because = reason ? "the build was interrupted" : schedule.stopped === "failure" ? "the build stopped after a failure" : schedule.cancelled.length > 0 ? "a dependency failed or was cancelled" : "a dependency failed";
    reporter({ type: "skipped", label, because });
  }
  const outputs = new Map<string, OutputRecord[]>();
  for (const [label, { outputs: records }] of finished) outputs.set(label, records);
  // The caller reports the summary: it ends the output, after anything the caller adds.
  return { summary, outputs, results, failed: schedule.failed, interrupted: reason, environmentFaults, cancelled: schedule.cancelled };
}
