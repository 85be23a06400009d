import { describe, expect, it } from "vitest";
import { transition, type WatchInput, type WatchPhase } from "./watch-state.js";

const change: WatchInput = { type: "change", paths: ["a.txt"] };

/** Runs `inputs` from `from`; returns the phases passed and every action type in order. */
function replay(from: WatchPhase, inputs: WatchInput[]) {
  let phase = from;
  const phases: WatchPhase[] = [];
  const actions: string[] = [];
  for (const input of inputs) {
    const next = transition(phase, input);
    phase = next.phase;
    phases.push(phase);
    actions.push(...next.actions.map((a) => a.type));
  }
  return { phase, phases, actions };
}

describe("watch state machine", () => {
  it("a burst of changes is one rebuild", () => {
    const run = replay("idle", [change, change, change, { type: "timer" }, { type: "built" }]);
    expect(run.phases).toEqual(["debouncing", "debouncing", "debouncing", "running", "idle"]);
    expect(run.actions.filter((a) => a === "build")).toHaveLength(1);
    expect(run.actions.filter((a) => a === "start-timer")).toHaveLength(3);
  });

  it("a change while building cancels what it made obsolete, then builds again", () => {
    const run = replay("running", [change, change, { type: "built" }, { type: "timer" }, { type: "built" }]);
    expect(run.phases).toEqual(["cancelling", "cancelling", "debouncing", "running", "idle"]);
    expect(run.actions).toEqual(["cancel-affected", "cancel-affected", "start-timer", "build"]);
  });

  it("stop exits at once when nothing runs, and after aborting a running build", () => {
    expect(transition("idle", { type: "stop" })).toEqual({ phase: "stopped", actions: [{ type: "exit" }] });
    expect(transition("debouncing", { type: "stop" }).actions).toEqual([{ type: "exit" }]);
    const run = replay("running", [{ type: "stop" }, change, { type: "stop" }, { type: "built" }]);
    expect(run.phases).toEqual(["stopping", "stopping", "stopping", "stopped"]);
    expect(run.actions).toEqual(["abort-build", "exit"]);
  });

  it("a timer outside debouncing and a build end while idle change nothing", () => {
    for (const phase of ["idle", "running", "cancelling", "stopped"] as const) expect(transition(phase, { type: "timer" })).toEqual({ phase, actions: [] });
    expect(transition("idle", { type: "built" })).toEqual({ phase: "idle", actions: [] });
    expect(transition("stopped", change)).toEqual({ phase: "stopped", actions: [] });
  });
});
