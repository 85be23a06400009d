import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { joinRelative } from "./join-relative.js";

describe("joinRelative", () => {
  it("is path.join on normal and awkward paths alike", () => {
    const dirs = ["/", "/a", "/a/", "/a/b", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..", "/.a/b..", "/a/...", "relative/dir", ""];
    const relatives = ["x", "x/y", "kiln-out/p000/s00001/out.txt", "", ".", "..", "./x", "x/.", "x/..", "../x", "x//y", "/x", "x/", ".x", "x..", "...", "x/.y/..z"];
    for (const dir of dirs) for (const relative of relatives) expect(joinRelative(dir, relative), `${dir} + ${relative}`).toBe(join(dir, relative));
  });

  it("is path.join on random paths of slashes, dots and letters", () => {
    const path = fc.array(fc.constantFrom("/", ".", "a", "b"), { maxLength: 12 }).map((chars) => chars.join(""));
    fc.assert(fc.property(path, path, (dir, relative) => joinRelative(`/${dir}`, relative) === join(`/${dir}`, relative)), { numRuns: 5000 });
  });
});
