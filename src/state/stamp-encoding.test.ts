import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeStamp, encodeStamp, patchStamp, type StampRow } from "./stamp-encoding.js";

describe("stamp encoding", () => {
  it("round-trips header, paths, stats, digests and steps, whatever the header's length", () => {
    for (const note of ["", "x", "xyz", "a longer note with ünïcödé"]) {
      const paths = ["/ws/a.txt", "/ws/dir", "/ws/kiln-out/p/t/o.txt"];
      const stats = [12, 1795690492768.3225, 2564748, 1795690492768.5, -1, 1795690492761.5, -1, -1, 3, 1.5, 99, -2];
      const steps = [{ label: "//p:t", key: "k1" }, { label: "//:root", key: "k2" }];
      const bytes = encodeStamp({ note }, paths, stats, ["d1", "ls:abc", "d3"], steps);
      const decoded = decodeStamp<{ note: string }>(bytes)!;
      expect(decoded.header).toEqual({ note });
      expect(decoded.paths).toEqual(paths);
      expect([...decoded.stats]).toEqual(stats);
      expect(decoded.digests()).toEqual(["d1", "ls:abc", "d3"]);
      expect(decoded.steps()).toEqual(steps);
    }
  });

  it("writes stats changed through the view back with the bytes", () => {
    const decoded = decodeStamp(encodeStamp({}, ["/a"], [1, 2, 3, 4], [""], []))!;
    decoded.stats[1] = 42;
    expect([...decodeStamp(decoded.bytes)!.stats]).toEqual([1, 42, 3, 4]);
  });

  it("an empty stamp, and bytes that are not a stamp", () => {
    const empty = decodeStamp(encodeStamp({ n: 0 }, [], [], [], []))!;
    expect(empty.paths).toEqual([]);
    expect(empty.steps()).toEqual([]);
    expect(decodeStamp(Buffer.from('{"format":"kiln.up-to-date/2"}'))).toBeUndefined();
    expect(decodeStamp(encodeStamp({}, ["/a", "/b"], [1, 2, 3, 4, 5, 6, 7, 8], ["", ""], []).subarray(0, 40))).toBeUndefined();
  });

  it("a patch in place gives the very bytes of encoding the patched tables anew, or writes nothing", () => {
    // Digests and keys from a small alphabet of lengths, so that some patches fit and some do not.
    const text = fc.string({ unit: fc.constantFrom("a", "0", "ü", ":"), maxLength: 4 });
    const stamp = fc
      .uniqueArray(fc.string({ unit: fc.constantFrom("a", "/", "é"), minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 })
      .chain((paths) =>
        fc.record({
          paths: fc.constant(paths),
          stats: fc.array(fc.double({ noNaN: true }), { minLength: 4 * paths.length, maxLength: 4 * paths.length }),
          digests: fc.array(text, { minLength: paths.length, maxLength: paths.length }),
          steps: fc.array(fc.record({ label: text, key: text }), { maxLength: 4 }),
          rows: fc.uniqueArray(
            fc.record({ index: fc.nat(paths.length - 1), stats: fc.array(fc.double({ noNaN: true }), { minLength: 4, maxLength: 4 }), digest: text }),
            { selector: (row) => row.index, maxLength: paths.length },
          ),
          newSteps: fc.array(fc.record({ label: text, key: text }), { maxLength: 4 }),
          header: fc.constantFrom({ n: 1 }, { n: 2 }),
          // Most cases made to fit: the old digests and keys reversed (same bytes, other order).
          fit: fc.boolean(),
        }),
      );
    let patched = 0;
    fc.assert(
      fc.property(stamp, ({ paths, stats, digests, steps, rows: drawnRows, newSteps: drawnSteps, header, fit }) => {
        const reversed = (text: string) => [...text].reverse().join("");
        const rows = fit ? drawnRows.map((row) => ({ ...row, digest: reversed(digests[row.index]!) })) : drawnRows;
        const newSteps = fit ? steps.map((step) => ({ label: step.label, key: reversed(step.key) })) : drawnSteps;
        const bytes = encodeStamp({ n: 1 }, paths, stats, digests, steps);
        const decoded = decodeStamp(Buffer.from(bytes))!;
        const ok = patchStamp(decoded, header, rows as StampRow[], newSteps);
        if (fit && header.n === 1) expect(ok).toBe(true);
        if (!ok) {
          expect(decoded.bytes.equals(bytes)).toBe(true);
          return;
        }
        patched++;
        const newStats = [...stats];
        const newDigests = [...digests];
        for (const row of rows) {
          newStats.splice(4 * row.index, 4, ...row.stats);
          newDigests[row.index] = row.digest;
        }
        expect(decoded.bytes.equals(encodeStamp(header, paths, newStats, newDigests, newSteps))).toBe(true);
      }),
      { numRuns: 400 },
    );
    expect(patched).toBeGreaterThan(20);
  });
});
