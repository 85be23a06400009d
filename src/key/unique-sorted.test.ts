import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ContentDigest } from "./digest.js";
import { uniqueSortedByPath } from "./action-inputs.js";

/** What prepareAction did before: a Map by path (first place, last digest), then a sort. */
const viaMap = (pairs: [string, ContentDigest][]) => [...new Map(pairs)].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

describe("uniqueSortedByPath", () => {
  it("equals a Map by path, sorted: for sorted, unsorted and repeated paths", () => {
    const pair = fc.tuple(fc.constantFrom("a", "b", "a/b", "b/a", "kiln-out/p/x/out.txt", "c"), fc.constantFrom("1", "2", "3")) as fc.Arbitrary<[string, ContentDigest]>;
    fc.assert(fc.property(fc.array(pair, { maxLength: 8 }), (pairs) => {
      expect(uniqueSortedByPath(pairs.map((p) => [...p] as [string, ContentDigest]))).toEqual(viaMap(pairs));
    }), { numRuns: 2000 });
  });
});
