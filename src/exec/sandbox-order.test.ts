import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sortedByDepth } from "./sandbox.js";

const depthOf = (dir: string) => (dir === "" ? -1 : dir.split("/").length - 1);

describe("sortedByDepth", () => {
  it("is a stable sort by depth, either way", () => {
    const dir = fc.array(fc.constantFrom("a", "b", "kiln-out", "p000"), { maxLength: 4 }).map((parts) => parts.join("/"));
    fc.assert(
      fc.property(fc.array(dir, { maxLength: 30 }), (dirs) => {
        expect(sortedByDepth(dirs, "shallowFirst")).toEqual([...dirs].sort((a, b) => depthOf(a) - depthOf(b)));
        expect(sortedByDepth(new Set(dirs), "deepFirst")).toEqual([...new Set(dirs)].sort((a, b) => depthOf(b) - depthOf(a)));
      }),
      { numRuns: 2000 },
    );
  });
});
