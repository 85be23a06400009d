import { describe, expect, it } from "vitest";
import { decodeStamp, encodeStamp } from "./stamp-encoding.js";

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
});
