/**
 * The pool of step runners: long-lived Node child processes (src/exec/step-runner.ts) that run
 * `step` and `test` functions one at a time each, at most `processes` of them, started only when
 * a step actually has to run (a fully cached build starts none).
 *
 * Why processes and not worker threads: a worker shares kiln's process, so it cannot have a
 * working directory of its own, and /proc/self/environ shows kiln's environment (secrets
 * included) whatever the worker's process.env says. A runner is started with an empty
 * environment, in a process group of its own, and per task gets exactly the step's environment
 * and its sandbox as working directory (see step-runner.ts).
 *
 * A runner is retired (disconnected; it exits) after TASKS_PER_RUNNER tasks, when its memory
 * passes RSS_LIMIT (every task imports a fresh instance of its bundle, which Node never unloads),
 * or when a step left something running (a timer, a socket, a child process, a new global). A
 * runner that dies mid-task (the step called process.exit(), an exception escaped into a
 * callback, it ran out of memory) fails that step with a message naming its label; the next task
 * gets a new runner.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { kilnDistFile } from "../kiln-install.js";
import { stopProcessGroups } from "./process-groups.js";
import type { RunnerReply, RunnerRequest, StepOutcome, StepTask } from "./step-runner.js";

export type { StepOutcome, StepTask } from "./step-runner.js";

/**
 * Tasks a runner runs before it is replaced: each leaves a module instance behind (~16 KB for a
 * 1 KB bundle with its inline source map; proportionally more for larger ones), and a new runner
 * costs ~70-100 ms of start.
 */
export const TASKS_PER_RUNNER = 250;
/** A runner whose resident memory passes this after a task is replaced. */
export const RSS_LIMIT = 512 * 1024 * 1024;
/** How long close() waits after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** How much of a runner's own stdout/stderr (what bypasses the step's captured streams) is kept. */
const RAW_OUTPUT_LIMIT = 16 * 1024;

interface Job {
  task: StepTask;
  resolve: (outcome: StepOutcome) => void;
  signal?: AbortSignal;
}

interface Runner {
  child: ChildProcess;
  job?: Job & { id: number; raw: string };
  tasks: number;
  retiring: boolean;
  exited: Promise<void>;
}

export class StepPool {
  private readonly runners = new Set<Runner>();
  private readonly queue: Job[] = [];
  private nextId = 0;
  private closing?: Promise<void>;

  constructor(private readonly processes: number) {}

  /**
   * Runs one task. Aborting `signal` cancels it: a queued task is dropped, a running one's runner
   * is stopped with everything its step started (the outcome comes once they are gone).
   */
  run(task: StepTask, signal?: AbortSignal): Promise<StepOutcome> {
    if (this.closing) return Promise.resolve({ ok: false, log: "", error: `${task.label}: not started: the step runners were stopped` });
    if (signal?.aborted) return Promise.resolve({ ok: false, log: "", error: `${task.label}: cancelled`, cancelled: true });
    return new Promise((resolvePromise) => {
      const onAbort = () => this.cancel(job);
      const job: Job = {
        task,
        signal,
        resolve: (outcome) => {
          signal?.removeEventListener("abort", onAbort);
          resolvePromise(outcome);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** A queued job leaves the queue; a running one's runner (its whole group) is stopped. */
  private cancel(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      job.resolve({ ok: false, log: "", error: `${job.task.label}: cancelled`, cancelled: true });
      return;
    }
    for (const runner of this.runners) {
      if (runner.job?.resolve !== job.resolve) continue;
      runner.retiring = true;
      if (runner.child.pid !== undefined) void stopProcessGroups([runner.child.pid], KILL_GRACE_MS);
    }
  }

  /**
   * Stops every runner: SIGTERM to its process group (the runner and anything its step started),
   * SIGKILL after 2 s to what is left. A running task resolves as failed. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= this.stopAll();
    return this.closing;
  }

  private async stopAll(): Promise<void> {
    for (const job of this.queue.splice(0)) job.resolve({ ok: false, log: "", error: `${job.task.label}: not started: the step runners were stopped` });
    const runners = [...this.runners];
    for (const runner of runners) signalGroup(runner.child, "SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const allExited = Promise.all(runners.map((r) => r.exited));
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), KILL_GRACE_MS)));
    if ((await Promise.race([allExited, late])) === "late") {
      for (const runner of this.runners) signalGroup(runner.child, "SIGKILL");
      await allExited;
    }
    clearTimeout(timer);
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closing) {
      let runner: Runner | undefined;
      for (const r of this.runners) if (!r.job && !r.retiring) runner = r;
      if (!runner) {
        if (this.activeCount() >= this.processes) return;
        runner = this.start();
      }
      const job = this.queue.shift()!;
      const id = ++this.nextId;
      runner.job = { ...job, id, raw: "" };
      setReferenced(runner.child, true);
      const request: RunnerRequest = { type: "run", id, task: job.task };
      // A runner that died meanwhile reports through "exit"; the send error adds nothing.
      runner.child.send(request, () => {});
    }
  }

  private start(): Runner {
    // An empty environment: nothing of kiln's (or its caller's) reaches a step. A process group
    // of its own, so close() can stop a step's own children with it and a terminal's Ctrl-C goes
    // to kiln, which decides.
    const child = spawn(process.execPath, [kilnDistFile("src/exec/step-runner.js")], {
      cwd: "/",
      env: {},
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      detached: true,
      serialization: "json",
    });
    let exit!: () => void;
    const runner: Runner = { child, tasks: 0, retiring: false, exited: new Promise((resolve) => (exit = resolve)) };
    this.runners.add(runner);
    const keepRaw = (chunk: string) => {
      if (!runner.job) return;
      runner.job.raw = (runner.job.raw + chunk).slice(-RAW_OUTPUT_LIMIT);
    };
    child.stdout!.setEncoding("utf8").on("data", keepRaw);
    child.stderr!.setEncoding("utf8").on("data", keepRaw);
    child.on("message", (reply: RunnerReply) => this.receive(runner, reply));
    let crash: string | undefined;
    child.on("message", (reply: RunnerReply) => {
      if (reply.type === "crash") crash = reply.error;
    });
    let spawnError: string | undefined;
    child.on("error", (error) => {
      spawnError ??= error.message;
      // A process that never started emits no "close".
      if (child.pid === undefined) finish(null, null);
    });
    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (finished) return;
      finished = true;
      this.runners.delete(runner);
      const job = runner.job;
      runner.job = undefined;
      exit();
      if (job) {
        const label = job.task.label;
        let error: string;
        if (job.signal?.aborted) {
          job.resolve({ ok: false, log: job.raw.trimEnd(), error: `${label}: cancelled`, cancelled: true });
          this.dispatch();
          return;
        }
        if (spawnError) error = `${label}: could not start a step runner: ${spawnError}`;
        else if (this.closing) error = `${label}: stopped: the step runners were stopped`;
        else if (crash !== undefined) {
          error = `${label}: an exception escaped the step's awaited code (thrown in a callback or an unawaited promise), so its process was ended:\n${crash}`;
        } else error = `the process running ${label} ${describeExit(code, signal, job.raw)}`;
        job.resolve({ ok: false, log: job.raw.trimEnd(), error });
      }
      this.dispatch();
    };
    // "close" comes once its stdio is drained too (the raw output complete), unless something the
    // step started holds the pipes open: then "exit", and a moment for the output.
    child.on("close", (code, signal) => finish(code, signal));
    child.on("exit", (code, signal) => setTimeout(() => finish(code, signal), 100));
    setReferenced(child, false);
    return runner;
  }

  private receive(runner: Runner, reply: RunnerReply): void {
    if (reply.type !== "done") return;
    const job = runner.job;
    if (!job || job.id !== reply.id) return;
    // Being cancelled: its runner is being stopped, and the exit reports the job.
    if (job.signal?.aborted) return;
    runner.job = undefined;
    runner.tasks++;
    setReferenced(runner.child, false);
    const outcome = reply.outcome;
    if (job.raw.trim().length > 0) outcome.log = outcome.log.length > 0 ? `${outcome.log}\n${job.raw.trimEnd()}` : job.raw.trimEnd();
    if (reply.leftovers.length > 0 || runner.tasks >= TASKS_PER_RUNNER || reply.rss > RSS_LIMIT) {
      this.retire(runner);
      // Its successor starts now, while the build goes on, not when the next step is waiting.
      if (!this.closing && this.activeCount() < this.processes) this.start();
    }
    job.resolve(outcome);
    this.dispatch();
  }

  /** Runners not retiring: at most `processes` (a retiring one may still be exiting). */
  private activeCount(): number {
    let count = 0;
    for (const runner of this.runners) if (!runner.retiring) count++;
    return count;
  }

  /** Asks a runner to exit (it does when its channel closes); SIGKILL if it has not after 2 s. */
  private retire(runner: Runner): void {
    runner.retiring = true;
    if (runner.child.connected) runner.child.disconnect();
    const timer = setTimeout(() => signalGroup(runner.child, "SIGKILL"), KILL_GRACE_MS);
    timer.unref();
    void runner.exited.then(() => clearTimeout(timer));
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null, raw: string): string {
  if (/JavaScript heap out of memory|Reached heap limit/.test(raw)) {
    return `ran out of memory (JavaScript heap) before the step finished${signal ? ` (${signal})` : ""}`;
  }
  if (signal === "SIGKILL") return "was killed by SIGKILL before the step finished (out of memory? the kernel's OOM killer sends SIGKILL)";
  if (signal) return `was killed by ${signal} before the step finished`;
  return `exited with code ${code} before the step finished (did the step call process.exit()? a step fails by throwing)`;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** An idle runner must not keep kiln alive; one with a task out must. */
function setReferenced(child: ChildProcess, referenced: boolean): void {
  const handles = [child, child.channel, child.stdout, child.stderr] as unknown as ({ ref(): void; unref(): void } | null | undefined)[];
  for (const handle of handles) {
    if (!handle) continue;
    if (referenced) handle.ref();
    else handle.unref();
  }
}
