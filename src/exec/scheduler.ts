/**
 * The scheduler: which step goes next, and how many at once. It knows labels, their
 * dependencies and a priority (the longest remaining path), and nothing of keys, caches or where
 * a step runs; the builder hands it two phases per label:
 *   - `look`: key the target and ask the cache. Holds no job slot, so up to `lookups` of them
 *     overlap each other and running steps (a remote cache's round trips hide behind work).
 *   - `run`: execute a miss. Holds one of `jobs` slots; misses wait for one longest path first.
 * A label is ready once all its dependencies are done; a failed or cancelled one leaves its
 * dependants not reached.
 *
 * Cancellation is per step: each look and run gets an AbortSignal of its own, aborted when the
 * build's signal aborts (then nothing more starts) or when `cancel(labels)` names it (watch mode:
 * an input of that step changed; the rest of the build goes on).
 */
import { MaxHeap } from "./heap.js";

/** How a look ended: done (restored, nothing to run), needs a job slot, or failed. */
export type LookOutcome<Work> = { kind: "done" } | { kind: "run"; work: Work } | { kind: "failed" };
/** How a run ended. A cancelled step is neither done nor failed: its dependants are not reached. */
export type RunOutcome = { kind: "done" } | { kind: "failed" } | { kind: "cancelled" };

export interface ScheduleOptions<Work> {
  /** Every label to schedule; dependencies outside this list are taken as done. */
  labels: readonly string[];
  depsOf: (label: string) => readonly string[];
  /** Higher first (the longest path to a sink); missing means 0. */
  priority: ReadonlyMap<string, number>;
  jobs: number;
  lookups: number;
  /** After a failure, go on with what does not depend on it (-k). */
  keepGoing: boolean;
  /** The build's own signal: once aborted, nothing more starts and every step's signal aborts. */
  signal: AbortSignal;
  /** Done at once, with no lookup (a result known to stand); checked before `look`. */
  instant?: (label: string) => boolean;
  /** Never rejects for a step's own trouble (that is `failed`); a rejection stops the build as fatal. */
  look: (label: string, signal: AbortSignal) => Promise<LookOutcome<Work>>;
  run: (label: string, work: Work, signal: AbortSignal) => Promise<RunOutcome>;
}

export interface ScheduleResult {
  done: Set<string>;
  failed: string[];
  cancelled: string[];
  /** Labels never finished: their dependencies failed or were cancelled, or the build stopped. */
  notReached: string[];
  /** Why the build stopped early, if it did. */
  stopped?: "failure" | "aborted" | "fatal";
  /** A rejected look or run (kiln's own bookkeeping failed): the first one. */
  fatal?: unknown;
}

/** What watch mode holds of a running build's scheduler: the steps under way, and a way to cancel some. */
export type StepCanceller = Pick<Scheduler<unknown>, "cancel" | "inFlight">;

export class Scheduler<Work> {
  private readonly dependants = new Map<string, string[]>();
  private readonly waitingOn = new Map<string, number>();
  private readonly ready = new MaxHeap<string>();
  private readonly toRun = new MaxHeap<{ label: string; work: Work }>();
  /** Controllers of looks and runs under way, by label. */
  private readonly active = new Map<string, AbortController>();
  /** Named by cancel() before they started: they will not. */
  private readonly cancelledEarly = new Set<string>();
  private readonly result: ScheduleResult = { done: new Set(), failed: [], cancelled: [], notReached: [] };
  private running = 0;
  private looking = 0;
  private pumping = false;
  private finish?: () => void;

  constructor(private readonly options: ScheduleOptions<Work>) {
    const inPlan = new Set(options.labels);
    for (const label of options.labels) {
      const deps = options.depsOf(label).filter((dep) => inPlan.has(dep));
      this.waitingOn.set(label, deps.length);
      for (const dep of deps) {
        const list = this.dependants.get(dep);
        if (list) list.push(label);
        else this.dependants.set(dep, [label]);
      }
    }
  }

  /** Runs the plan to its end (or its stop); resolves once no look or run is under way. */
  async run(): Promise<ScheduleResult> {
    const { options } = this;
    for (const label of options.labels) if (this.waitingOn.get(label) === 0) this.ready.push(label, options.priority.get(label) ?? 0);
    const finished = new Promise<void>((resolve) => (this.finish = resolve));
    const onAbort = () => {
      this.result.stopped ??= "aborted";
      for (const controller of this.active.values()) controller.abort(options.signal.reason);
      this.pump();
    };
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener("abort", onAbort, { once: true });
    this.pump();
    await finished;
    options.signal.removeEventListener("abort", onAbort);
    const { done, failed, cancelled } = this.result;
    const ended = new Set([...failed, ...cancelled]);
    this.result.notReached = options.labels.filter((label) => !done.has(label) && !ended.has(label));
    return this.result;
  }

  /**
   * Cancels these labels wherever they are: a running look or run is aborted (it resolves as
   * cancelled once its process is gone), a queued one is dropped, a waiting one will not start.
   * Labels not in the plan or already finished are ignored.
   */
  cancel(labels: Iterable<string>, reason: string): void {
    for (const label of labels) {
      if (!this.waitingOn.has(label) || this.result.done.has(label)) continue;
      const controller = this.active.get(label);
      if (controller) controller.abort(reason);
      else this.cancelledEarly.add(label);
    }
    this.pump();
  }

  /** Runs (executions holding a job slot) under way now. */
  get runningCount(): number {
    return this.running;
  }

  /** Labels with a look or a run under way now. */
  get inFlight(): string[] {
    return [...this.active.keys()];
  }

  private get stopped(): boolean {
    return this.result.stopped !== undefined;
  }

  /**
   * Starts what may start: runs of misses first (up to -j), then looks of ready labels (up to
   * `lookups`). Re-entrant calls (a callback finishing synchronously) return at once.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const { options } = this;
    while (!this.stopped && this.running < options.jobs && this.toRun.size > 0) this.startRun(this.toRun.pop()!);
    while (!this.stopped && this.looking < options.lookups && this.ready.size > 0) {
      const label = this.ready.pop()!;
      if (this.cancelledEarly.delete(label)) {
        this.result.cancelled.push(label);
        continue;
      }
      if (options.instant?.(label)) {
        this.complete(label);
        continue;
      }
      this.startLook(label);
    }
    this.pumping = false;
    if (this.running === 0 && this.looking === 0 && (this.stopped || (this.ready.size === 0 && this.toRun.size === 0))) this.finish?.();
  }

  private startLook(label: string): void {
    const controller = this.track(label);
    this.looking++;
    this.options
      .look(label, controller.signal)
      .then((outcome) => {
        if (outcome.kind === "done") this.complete(label);
        else if (outcome.kind === "failed") this.failed(label);
        else if (controller.signal.aborted && !this.options.signal.aborted) this.result.cancelled.push(label);
        else this.toRun.push({ label, work: outcome.work }, this.options.priority.get(label) ?? 0);
      }, (error: unknown) => this.fatal(error))
      .finally(() => {
        this.untrack(label, controller);
        this.looking--;
        this.pump();
      });
  }

  private startRun({ label, work }: { label: string; work: Work }): void {
    if (this.cancelledEarly.delete(label)) {
      this.result.cancelled.push(label);
      return;
    }
    const controller = this.track(label);
    this.running++;
    this.options
      .run(label, work, controller.signal)
      .then((outcome) => {
        if (outcome.kind === "done") this.complete(label);
        else if (outcome.kind === "cancelled") this.result.cancelled.push(label);
        else this.failed(label);
      }, (error: unknown) => this.fatal(error))
      .finally(() => {
        this.untrack(label, controller);
        this.running--;
        this.pump();
      });
  }

  /** A controller for one look or run, already aborted if the build is. */
  private track(label: string): AbortController {
    const controller = new AbortController();
    if (this.options.signal.aborted) controller.abort(this.options.signal.reason);
    this.active.set(label, controller);
    return controller;
  }

  /** Forgets a finished look's or run's controller (not one that has taken its place since). */
  private untrack(label: string, controller: AbortController): void {
    if (this.active.get(label) === controller) this.active.delete(label);
  }

  private complete(label: string): void {
    this.result.done.add(label);
    for (const dependant of this.dependants.get(label) ?? []) {
      const left = this.waitingOn.get(dependant)! - 1;
      this.waitingOn.set(dependant, left);
      if (left === 0) this.ready.push(dependant, this.options.priority.get(dependant) ?? 0);
    }
  }

  private failed(label: string): void {
    this.result.failed.push(label);
    if (!this.options.keepGoing && !this.stopped) this.result.stopped = "failure";
  }

  private fatal(error: unknown): void {
    this.result.fatal ??= error;
    this.result.stopped = "fatal";
  }
}
