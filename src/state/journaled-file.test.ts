import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { JournaledFile } from "./journaled-file.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-journal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Snapshot = Record<string, number>;
type Entry = [string, number];

/** A tiny state built on the journal: a map saved as a snapshot or as changed entries. */
function open(file: string) {
  const journal = new JournaledFile<Snapshot, Entry>(file);
  const { snapshot, entries } = journal.read();
  const state = new Map(Object.entries(snapshot ?? {}));
  for (const [key, value] of entries) state.set(key, value);
  const save = (changes: Entry[]) => {
    for (const [key, value] of changes) state.set(key, value);
    journal.save(changes.length, () => changes, () => Object.fromEntries(state));
  };
  return { state, save };
}

describe("JournaledFile", () => {
  it("writes a snapshot first, then appends changes, and reads both back in order", () => {
    const file = join(dir, "a.json");
    open(file).save([["x", 1], ["y", 2]]);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ x: 1, y: 2 });
    expect(existsSync(`${file}.log`)).toBe(false);

    open(file).save([["y", 3]]);
    open(file).save([["z", 4]]);
    expect(readFileSync(`${file}.log`, "utf8")).toBe('["y",3]\n["z",4]\n');
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ x: 1, y: 2 });
    expect(Object.fromEntries(open(file).state)).toEqual({ x: 1, y: 3, z: 4 });
  });

  it("skips a torn last line, as a crash mid-append leaves it", () => {
    const file = join(dir, "b.json");
    open(file).save([["x", 1]]);
    open(file).save([["x", 2]]);
    appendFileSync(`${file}.log`, '["x",');
    expect(Object.fromEntries(open(file).state)).toEqual({ x: 2 });
  });

  it("compacts into a new snapshot once the log is long, and drops the log", () => {
    const file = join(dir, "c.json");
    open(file).save([["seed", 0]]);
    const many: Entry[] = Array.from({ length: 3000 }, (_, i) => [`k${i}`, i]);
    open(file).save(many); // appended: 3,000 lines
    expect(existsSync(`${file}.log`)).toBe(true);
    open(file).save(many.map(([key, value]) => [key, value + 1])); // 6,000 > the limit: snapshot
    expect(existsSync(`${file}.log`)).toBe(false);
    const state = open(file).state;
    expect(state.size).toBe(3001);
    expect(state.get("k2999")).toBe(3000);
  });
});
