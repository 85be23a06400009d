import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { groupRuns, QuoteParity, RisingKeys, spansOverlap, tentativeStarts } from "./range-bounds.js";

describe("QuoteParity", () => {
  it("finds the first start after an odd count of quotes, however the bytes are chunked", () => {
    const text = fc.array(fc.constantFrom(34, 10, 97), { minLength: 1, maxLength: 200 });
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (bytes, rawStarts, cuts) => {
        const starts = [...new Set(rawStarts.map((s) => s % (bytes.length + 1)))].sort((a, b) => a - b);
        const naive = starts.find((start) => bytes.slice(0, start).filter((b) => b === 34).length % 2 === 1);
        const parity = new QuoteParity(starts);
        const all = Uint8Array.from(bytes);
        for (let at = 0, i = 0; at < all.length; at += cuts[i++ % cuts.length]!) parity.push(all.subarray(at, at + cuts[i % cuts.length]!));
        expect(parity.insideQuotesAt).toBe(naive);
        expect(parity.settled).toBe(true);
      }),
    );
  });
});

describe("index spans", () => {
  it("accepts values rising within and across ranges, of one type", () => {
    expect(spansOverlap([{ first: 1, last: 10 }, null, { first: 11, last: 20 }])).toBeUndefined();
    expect(spansOverlap([{ first: "a", last: "m" }, { first: "n", last: "z" }])).toBeUndefined();
    expect(spansOverlap([{ first: 1, last: 10 }, { first: 10, last: 20 }])).toBe("index values that do not rise from one part of the file to the next");
    expect(spansOverlap([{ first: 1, last: 10 }, { first: "11", last: "12" }])).toBe("index values of more than one type");
  });

  it("calls a range unordered at the first value that does not rise", () => {
    const keys = new RisingKeys();
    expect([1, 2, 5].map((v) => keys.add(v))).toEqual([true, true, true]);
    expect(keys.span()).toEqual({ first: 1, last: 5 });
    expect(keys.add(5)).toBe(false);
    expect(keys.unordered).toBe(true);
    const zeros = new RisingKeys();
    expect([0, -0].map((v) => zeros.add(v))).toEqual([true, false]);
    expect(new RisingKeys().add(true)).toBe(false);
    expect(new RisingKeys().span()).toBeNull();
  });

  it("row groups go in runs of about equal rows, every group in one run, in order", () => {
    expect(groupRuns([10, 10, 10, 10], 2)).toEqual([{ first: 0, end: 2 }, { first: 2, end: 4 }]);
    expect(groupRuns([100, 1, 1, 1], 2)).toEqual([{ first: 0, end: 1 }, { first: 1, end: 4 }]);
    expect(groupRuns([5], 4)).toEqual([{ first: 0, end: 1 }]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 6 }), (groups, parts) => {
        const runs = groupRuns(groups, parts);
        expect(runs.length).toBeLessThanOrEqual(parts);
        expect(runs.flatMap((r) => Array.from({ length: r.end - r.first }, (_, k) => r.first + k))).toEqual(groups.map((_, g) => g));
      }),
    );
  });

  it("tentative starts divide the file evenly", () => {
    expect(tentativeStarts(100, 4)).toEqual([25, 50, 75]);
    expect(tentativeStarts(100, 1)).toEqual([]);
  });
});
