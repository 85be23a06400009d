import { describe, expect, it } from "vitest";
import { Scheduler, type LookOutcome, type RunOutcome, type ScheduleOptions } from "./scheduler.js";

/** A plan over `deps` (label -> its dependencies) whose looks all miss and whose runs wait for `release`. */
function plan(deps: Record<string, string[]>, overrides: Partial<ScheduleOptions<string>> = {}) {
  const started: string[] = [];
  const aborted: string[] = [];
  const pending = new Map<string, (outcome: RunOutcome) => void>();
  let running = 0;
  let maxRunning = 0;
  const controller = new AbortController();
  const options: ScheduleOptions<string> = {
    labels: Object.keys(deps),
    depsOf: (label) => deps[label] ?? [],
    priority: new Map(),
    jobs: 2,
    lookups: 4,
    keepGoing: false,
    signal: controller.signal,
    look: async (label): Promise<LookOutcome<string>> => ({ kind: "run", work: label }),
    run: (label, _work, signal) => {
      started.push(label);
      running++;
      maxRunning = Math.max(maxRunning, running);
      return new Promise<RunOutcome>((resolve) => {
        const finish = (outcome: RunOutcome) => {
          running--;
          pending.delete(label);
          resolve(outcome);
        };
        pending.set(label, finish);
        signal.addEventListener("abort", () => {
          aborted.push(label);
          finish({ kind: "cancelled" });
        });
      });
    },
    ...overrides,
  };
  const scheduler = new Scheduler(options);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 5));
  /** Finishes the running `label` with `outcome`. */
  const release = async (label: string, outcome: RunOutcome = { kind: "done" }) => {
    await settle();
    const finish = pending.get(label);
    if (!finish) throw new Error(`${label} is not running (running: ${[...pending.keys()].join(", ")})`);
    finish(outcome);
    await settle();
  };
  return { scheduler, started, aborted, release, settle, controller, pending, maxRunning: () => maxRunning };
}

describe("scheduler", () => {
  it("runs dependencies first, longest remaining path first, at most -j at once", async () => {
    const p = plan(
      { a: [], b: [], c: [], top: ["a"], mid: ["top"] },
      { priority: new Map([["a", 3], ["b", 1], ["top", 2], ["mid", 1]]), jobs: 2 },
    );
    const done = p.scheduler.run();
    await p.settle();
    expect(p.started).toEqual(["a", "b"]);
    // c was looked up with a and b and waits for a slot; top is still being looked up.
    await p.release("a");
    expect(p.started).toEqual(["a", "b", "c"]);
    await p.release("b");
    expect(p.started).toEqual(["a", "b", "c", "top"]);
    await p.release("c");
    await p.release("top");
    await p.release("mid");
    const result = await done;
    expect([...result.done].sort()).toEqual(["a", "b", "c", "mid", "top"]);
    expect(p.maxRunning()).toBe(2);
    expect(result.failed).toEqual([]);
    expect(result.notReached).toEqual([]);
  });

  it("a cancelled step is aborted alone: its dependants are not reached, the rest goes on", async () => {
    const p = plan({ a: [], b: [], afterA: ["a"], afterB: ["b"] });
    const done = p.scheduler.run();
    await p.settle();
    p.scheduler.cancel(["a"], "input changed");
    await p.settle();
    expect(p.aborted).toEqual(["a"]);
    await p.release("b");
    await p.release("afterB");
    const result = await done;
    expect(result.cancelled).toEqual(["a"]);
    expect([...result.done].sort()).toEqual(["afterB", "b"]);
    expect(result.notReached).toEqual(["afterA"]);
    expect(result.stopped).toBeUndefined();
  });

  it("a step cancelled before it started never starts", async () => {
    const p = plan({ a: [], later: ["a"], other: [] }, { jobs: 1, priority: new Map([["a", 2], ["later", 1]]) });
    const done = p.scheduler.run();
    await p.settle();
    p.scheduler.cancel(["later"], "input changed");
    await p.release("a");
    await p.release("other");
    const result = await done;
    expect(p.started).toEqual(["a", "other"]);
    expect(result.cancelled).toEqual(["later"]);
  });

  it("a failure stops new starts unless keepGoing; running steps finish", async () => {
    const p = plan({ a: [], b: [], c: [] }, { jobs: 2 });
    const done = p.scheduler.run();
    await p.release("a", { kind: "failed" });
    await p.release("b");
    const result = await done;
    expect(result.stopped).toBe("failure");
    expect(p.started).toEqual(["a", "b"]);
    expect(result.failed).toEqual(["a"]);
    expect(result.notReached).toEqual(["c"]);

    const k = plan({ a: [], b: [], c: [] }, { jobs: 2, keepGoing: true });
    const kept = k.scheduler.run();
    await k.release("a", { kind: "failed" });
    await k.release("b");
    await k.release("c");
    expect((await kept).done.size).toBe(2);
  });

  it("aborting the build aborts every running step and starts nothing more", async () => {
    const p = plan({ a: [], b: [], c: [] }, { jobs: 2 });
    const done = p.scheduler.run();
    await p.settle();
    p.controller.abort("SIGINT");
    const result = await done;
    expect(p.aborted.sort()).toEqual(["a", "b"]);
    expect(result.stopped).toBe("aborted");
    expect(result.notReached).toEqual(["c"]);
  });

  it("instant labels complete without a look; a rejected look is fatal", async () => {
    const looked: string[] = [];
    const p = plan(
      { a: [], b: ["a"] },
      {
        instant: (label) => label === "a",
        look: async (label) => {
          looked.push(label);
          throw new Error("bookkeeping broke");
        },
      },
    );
    const result = await p.scheduler.run();
    expect(looked).toEqual(["b"]);
    expect(result.done.has("a")).toBe(true);
    expect(result.stopped).toBe("fatal");
    expect(String(result.fatal)).toContain("bookkeeping broke");
  });
});
