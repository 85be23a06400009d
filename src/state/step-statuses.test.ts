import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { lastOutcomes, readStepStatuses, recordStepStatuses, STEP_LOG_FILE } from "./step-statuses.js";

const dirs: string[] = [];
const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-step-status-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("step statuses", () => {
  it("logs executions and failures only, and folds them: the latest outcome, the latest execution's duration", () => {
    const dir = fresh();
    recordStepStatuses(dir, new Map([["//a", { status: "executed", ms: 120 }], ["//b", { status: "cached", ms: 0 }]]), 1000);
    recordStepStatuses(dir, new Map([["//a", { status: "failed", ms: 0 }]]), 2000);
    expect(readFileSync(join(dir, STEP_LOG_FILE), "utf8").split("\n").filter(Boolean)).toHaveLength(2);
    expect([...readStepStatuses(dir)]).toEqual([["//a", { status: "failed", ms: 120, at: 2000 }]]);
  });

  it("the last build's own record says what came from the cache; a failure in or after it wins", () => {
    const logged = new Map([
      ["//a", { status: "executed" as const, ms: 50, at: 1000 }],
      ["//bad", { status: "failed" as const, ms: 0, at: Date.parse("2026-12-02T10:00:01Z") }],
    ]);
    const lastRun = { startedOn: "2026-12-02T10:00:00Z", steps: { "//a": { status: "cached" as const }, "//c": { status: "executed" as const } } };
    const outcomes = lastOutcomes(logged, lastRun);
    expect(outcomes.get("//a")).toMatchObject({ status: "cached", ms: 50 });
    expect(outcomes.get("//bad")!.status).toBe("failed");
    expect(outcomes.get("//c")).toMatchObject({ status: "executed", ms: 0 });
    expect(lastOutcomes(logged, undefined).get("//a")!.status).toBe("executed");
  });

  it("compacts a log grown past twice its labels, keeping what it says", () => {
    const dir = fresh();
    for (let i = 0; i < 1200; i++) recordStepStatuses(dir, new Map([["//a", { status: "executed", ms: i + 1 }], ["//b", { status: i % 2 ? "failed" : "executed", ms: 7 }]]), i);
    const before = readStepStatuses(dir, { compact: true });
    expect(readFileSync(join(dir, STEP_LOG_FILE), "utf8").split("\n").filter(Boolean).length).toBeLessThanOrEqual(4);
    expect(readStepStatuses(dir)).toEqual(before);
    expect(before.get("//a")).toMatchObject({ status: "executed", ms: 1200 });
    expect(before.get("//b")).toMatchObject({ status: "failed", ms: 7 });
  });
});
