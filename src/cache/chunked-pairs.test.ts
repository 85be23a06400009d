import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunkPairs, joinChunks, type Pair } from "./chunked-pairs.js";

const inputs = (n: number, salt = ""): Pair[] =>
  Array.from({ length: n }, (_, i) => [`kiln-out/p${String(i % 1000).padStart(3, "0")}/s${String(i).padStart(6, "0")}/out.txt`, `digest-${i}${salt}`]);
const names = (pairs: Pair[]) => chunkPairs(pairs).map((chunk) => chunk.name);

describe("chunked pairs", () => {
  it("joined in order, the chunks are the list again, each between 1 and 4096 entries", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 3000 }), (pairs) => {
        const chunks = chunkPairs(pairs);
        const byName = new Map(chunks.map((chunk) => [chunk.name, chunk.pairs]));
        expect(joinChunks(chunks.map((chunk) => chunk.name), (name) => byName.get(name))).toEqual(pairs);
        for (const chunk of chunks) expect(chunk.pairs.length).toBeGreaterThanOrEqual(1);
        for (const chunk of chunks) expect(chunk.pairs.length).toBeLessThanOrEqual(4096);
      }),
      { numRuns: 60 },
    );
  });

  it("one entry changed changes one chunk; one added or removed changes at most two", () => {
    const list = inputs(100_000);
    const before = names(list);
    expect(before.length).toBeGreaterThan(40); // ~1,024 entries a chunk on average
    expect(before.length).toBeLessThan(300);

    const edited = list.map((pair, i): Pair => (i === 50_000 ? [pair[0], "digest-edited"] : pair));
    const afterEdit = names(edited);
    expect(afterEdit.length).toBe(before.length);
    expect(afterEdit.filter((name) => !before.includes(name))).toHaveLength(1);

    const added = [...list.slice(0, 30_000), ["kiln-out/new/target/out.txt", "digest-new"] as Pair, ...list.slice(30_000)];
    expect(names(added).filter((name) => !before.includes(name)).length).toBeLessThanOrEqual(2);
    const removed = list.filter((_, i) => i !== 70_000);
    expect(names(removed).filter((name) => !before.includes(name)).length).toBeLessThanOrEqual(2);
  });

  it("a missing chunk or one that is not a list of pairs joins to undefined", () => {
    const chunks = chunkPairs(inputs(5000));
    const byName = new Map<string, unknown>(chunks.map((chunk) => [chunk.name, chunk.pairs]));
    const all = chunks.map((chunk) => chunk.name);
    expect(joinChunks(all, (name) => byName.get(name))).toHaveLength(5000);
    expect(joinChunks([...all, "gone"], (name) => byName.get(name))).toBeUndefined();
    byName.set(all[0]!, [["path", 7]]);
    expect(joinChunks(all, (name) => byName.get(name))).toBeUndefined();
  });
});
