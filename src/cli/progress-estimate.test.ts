import { describe, expect, it } from "vitest";
import { estimateRemainingMs, formatDuration } from "./progress-estimate.js";

describe("estimateRemainingMs", () => {
  const history = new Map([["a", 1000], ["b", 3000], ["c", 5000]]);
  it("spreads the work left over the jobs", () => {
    expect(estimateRemainingMs({ pending: ["a", "b"], running: [], history, jobs: 2 })).toBe(2000);
    expect(estimateRemainingMs({ pending: ["a", "b"], running: [], history, jobs: 1 })).toBe(4000);
  });
  it("counts what running steps have left, and never less than the longest of those", () => {
    expect(estimateRemainingMs({ pending: [], running: [{ label: "c", elapsedMs: 1000 }], history, jobs: 4 })).toBe(4000);
    expect(estimateRemainingMs({ pending: [], running: [{ label: "a", elapsedMs: 5000 }], history, jobs: 1 })).toBe(0);
  });
  it("takes the median for steps never executed, and gives no ETA without any history", () => {
    expect(estimateRemainingMs({ pending: ["new"], running: [], history, jobs: 1 })).toBe(3000);
    expect(estimateRemainingMs({ pending: ["a"], running: [], history: new Map(), jobs: 1 })).toBeUndefined();
  });
  it("is never less than the longest chain of unfinished steps, when the dependencies are known", () => {
    const deps = new Map([["c", ["b"]], ["b", ["a"]], ["a", []]]);
    // 9 s of work over 8 jobs is 1.1 s, but c waits for b, which waits for a: 1 + 3 + 5 s.
    expect(estimateRemainingMs({ pending: ["a", "b", "c"], running: [], history, jobs: 8, deps })).toBe(9000);
    expect(estimateRemainingMs({ pending: ["b", "c"], running: [{ label: "a", elapsedMs: 500 }], history, jobs: 8, deps })).toBe(8500);
  });

  it("formats seconds and minutes", () => {
    expect(formatDuration(1234)).toBe("1.2s");
    expect(formatDuration(75_000)).toBe("1m15s");
  });
});
