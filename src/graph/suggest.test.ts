import { describe, expect, it } from "vitest";
import { didYouMean, editDistance, nearest } from "./suggest.js";

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions and adjacent transpositions", () => {
    expect(editDistance("", "")).toBe(0);
    expect(editDistance("abc", "")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("train", "trian")).toBe(1);
    expect(editDistance("classifier", "clasifier")).toBe(1);
    expect(editDistance("ca", "abc")).toBe(3); // optimal string alignment: no edit of a transposed pair
  });

  it("stops early past the limit", () => {
    expect(editDistance("abcdefgh", "zyxwvuts", 2)).toBe(3);
    expect(editDistance("a", "abcdef", 2)).toBe(3);
    expect(editDistance("abcdef", "abdcef", 1)).toBe(1);
  });

  it("agrees with the unlimited distance whenever that is within the limit", () => {
    const words = ["deps", "rdeps", "kind", "allpaths", "dep", "rdep", "knid", "allpath", "classifier", "clasifeir"];
    for (const a of words) {
      for (const b of words) {
        const exact = editDistance(a, b);
        for (const limit of [0, 1, 2, 3]) {
          expect(editDistance(a, b, limit)).toBe(exact <= limit ? exact : limit + 1);
        }
      }
    }
  });
});

describe("nearest", () => {
  const labels = [
    "//models:classifier",
    "//models:evaluate",
    "//models:train",
    "//modelz:clasifier",
    "//data:train",
    "//data:penguins",
    "//data/raw:penguins",
  ];

  it("finds a typo in the target name", () => {
    expect(nearest("//models:clasifier", labels)).toEqual(["//models:classifier"]);
    expect(nearest("//models:trian", labels)).toEqual(["//models:train"]);
  });

  it("finds a typo in the package", () => {
    expect(nearest("//modles:train", labels)).toEqual(["//models:train"]);
    expect(nearest("//dta:penguins", labels)).toEqual(["//data:penguins"]);
  });

  it("prefers the candidate's own package at equal distance", () => {
    // Both are one edit away; //models:classifier shares the package.
    expect(nearest("//models:clasifier", labels, 2)).toEqual(["//models:classifier", "//modelz:clasifier"]);
  });

  it("breaks remaining ties alphabetically and honours maxSuggestions", () => {
    expect(nearest("bat", ["cat", "hat", "bar", "rat"], 3)).toEqual(["bar", "cat", "hat"]);
    expect(nearest("bat", ["cat", "hat", "bar", "rat"], 0)).toEqual([]);
  });

  it("does not match unrelated names", () => {
    expect(nearest("//models:foo", ["//models:bar", "//other:baz"])).toEqual([]);
    expect(nearest("//models:x", ["//models:y"])).toEqual([]);
    expect(nearest("ab", ["xy"])).toEqual([]);
    expect(nearest("x", ["y"])).toEqual([]);
    expect(nearest("", ["a"])).toEqual([]);
  });

  it("never suggests the candidate itself", () => {
    expect(nearest("deps", ["deps"])).toEqual([]);
  });

  it("scales the threshold with length", () => {
    // 3 edits in a 10-letter name: within max(2, 10/3); 3 edits in an 8-letter name are not.
    expect(editDistance("//a:klasifiyer", "//a:classifier")).toBe(3);
    expect(nearest("//a:klasifiyer", ["//a:classifier"])).toEqual(["//a:classifier"]);
    expect(editDistance("//a:clasifyr", "//a:classifier")).toBe(3);
    expect(nearest("//a:clasifyr", ["//a:classifier"])).toEqual([]);
  });

  it("returns the same answer whatever the order of known", () => {
    const reversed = [...labels].reverse();
    expect(nearest("//models:clasifier", reversed, 3)).toEqual(nearest("//models:clasifier", labels, 3));
  });
});

describe("didYouMean", () => {
  it("formats a suffix for an error message", () => {
    expect(didYouMean("//models:clasifier", ["//models:classifier", "//data:penguins"])).toBe(
      " (did you mean //models:classifier?)",
    );
    expect(didYouMean("//nothing:close", ["//models:classifier"])).toBe("");
    expect(didYouMean("rdep", ["allpaths", "deps", "kind", "rdeps"])).toBe(" (did you mean rdeps?)");
  });
});
