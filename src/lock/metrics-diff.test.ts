import { describe, expect, it } from "vitest";
import { diffMetrics, flattenMetrics } from "./metrics-diff.js";

describe("diffMetrics", () => {
  it("flattens nested objects and arrays to dotted paths", () => {
    expect([...flattenMetrics({ a: 1, b: { c: [2, 3] }, d: {} })]).toEqual([["a", 1], ["b.c.0", 2], ["b.c.1", 3], ["d", {}]]);
  });

  it("lists changed, added and removed metrics with the change of numbers; equal ones not at all", () => {
    const before = { accuracy: 0.9, nTest: 67, perClass: { Adelie: { f1: 0.95 } }, note: "a" };
    const after = { accuracy: 0.925, nTest: 67, perClass: { Adelie: { f1: 0.9 }, Gentoo: { f1: 1 } } };
    expect(diffMetrics("m.json", before, after)).toEqual([
      "metric m.json accuracy: 0.9 -> 0.925 (+0.025)",
      'metric m.json note: "a" -> -',
      "metric m.json perClass.Adelie.f1: 0.95 -> 0.9 (-0.05)",
      "metric m.json perClass.Gentoo.f1: - -> 1",
    ]);
    expect(diffMetrics("m.json", before, before)).toEqual([]);
    expect(diffMetrics("m.json", undefined, { a: 1 })).toEqual(["metric m.json a: - -> 1"]);
  });
});
