import { describe, expect, it } from "vitest";
import { analyzeProfile, formatAnalysis } from "./analyze-profile.js";
import { toTrace, type RecordedSpan } from "./trace-recorder.js";
import { traceFileSchema } from "./trace-schema.js";

const step = (name: string, startMs: number, endMs: number, deps: string[] = []): RecordedSpan => ({ category: "step", name, startMs, endMs, args: { label: name, deps } });

describe("toTrace", () => {
  it("puts each slice on the first lane of its kind free at its start, never two at once on a lane", () => {
    const trace = toTrace([
      { category: "load", name: "load", startMs: 100, endMs: 110 },
      step("//a", 110, 200),
      step("//b", 120, 150),
      step("//c", 150, 260, ["//b"]),
      step("//d", 200, 300, ["//a", "//c"]),
      { category: "hash", name: "big.bin", startMs: 105, endMs: 108 },
    ]);
    traceFileSchema.parse(trace);
    const slices = trace.traceEvents.filter((e) => e.ph === "X");
    const tid = (name: string) => slices.find((e) => e.name === name)!.tid;
    // a on job 1; b on job 2; c reuses job 2 (free at 150); d reuses job 1 (free at 200).
    expect([tid("//a"), tid("//b"), tid("//c"), tid("//d")]).toEqual([1, 2, 2, 1]);
    expect(tid("load")).toBe(0);
    expect(tid("big.bin")).toBe(3000);
    // Times relative to the first slice, in microseconds.
    expect(slices.find((e) => e.name === "load")).toMatchObject({ ts: 0, dur: 10_000 });
    const names = trace.traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name").map((e) => [e.tid, e.args!.name]);
    expect(names).toEqual([[0, "main"], [1, "job 1"], [2, "job 2"], [3000, "hashing 1"]]);
  });
});

describe("analyzeProfile", () => {
  it("finds the critical path by summed duration through deps, and the slowest steps", () => {
    const trace = traceFileSchema.parse(toTrace([step("//a", 0, 90), step("//b", 10, 40), step("//c", 40, 150, ["//b"]), step("//d", 150, 250, ["//a", "//c"])]));
    const analysis = analyzeProfile(trace);
    expect(analysis.criticalPath.map((s) => s.label)).toEqual(["//b", "//c", "//d"]);
    expect(analysis.criticalMs).toBeCloseTo(240);
    expect(analysis.slowest.map((s) => s.label)).toEqual(["//c", "//d", "//a", "//b"]);
    expect(analysis.wallMs).toBeCloseTo(250);
    const text = formatAnalysis(analysis).join("\n");
    expect(text).toContain("critical path (0.24s, 3 steps):");
    expect(text).toContain("    0.11s  //c  (job 2)");
  });

  it("with no executed step, says so", () => {
    const analysis = analyzeProfile(traceFileSchema.parse(toTrace([{ category: "lookup", name: "//a", startMs: 0, endMs: 1, args: { hit: "local" } }])));
    expect(formatAnalysis(analysis)[1]).toBe("critical path: no step executed (everything came from the cache)");
  });
});
