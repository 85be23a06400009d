import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { StatCache } from "./stat-cache.js";
import { digestBytes } from "./digest.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-stat-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("StatCache persistence", () => {
  it("reads back what it saved, snapshot and log, and forgets what was forgotten", async () => {
    const file = join(dir, "stat-cache.bin");
    const a = join(dir, "a.txt");
    const b = join(dir, "b\twith tab.txt");
    writeFileSync(a, "alpha");
    writeFileSync(b, "beta");
    const first = new StatCache(file);
    expect((await first.digest(a)).digest).toBe(digestBytes("alpha"));
    await first.digest(b);
    first.save(); // the first save writes the snapshot
    expect(readFileSync(file).subarray(0, 8).toString()).toBe("KILNSTP1");

    const second = new StatCache(file);
    expect(second.lookup(a, statSync(a))).toBe(digestBytes("alpha"));
    expect(second.lookup(b, statSync(b))).toBe(digestBytes("beta"));
    second.forget(a);
    second.save(); // a log line
    expect(readFileSync(`${file}.log`, "utf8")).toContain("a.txt");

    const third = new StatCache(file);
    expect(third.lookup(a, statSync(a))).toBeUndefined();
    expect(third.statOf(b)).toEqual([4, statSync(b).mtimeMs, statSync(b).ino]);
  });

  it("keeps the rest of a snapshot when a path holds a newline (the layout joins paths with them)", async () => {
    const file = join(dir, "newline.bin");
    const odd = join(dir, "two\nlines.txt");
    const plain = join(dir, "plain.txt");
    writeFileSync(odd, "odd");
    writeFileSync(plain, "plain");
    const cache = new StatCache(file);
    await cache.digest(odd);
    await cache.digest(plain);
    cache.save();
    const reread = new StatCache(file);
    expect(reread.lookup(plain, statSync(plain))).toBe(digestBytes("plain"));
    expect(reread.lookup(odd, statSync(odd))).toBeUndefined();
  });

  it("starts empty from a snapshot it cannot read (an older JSON one, or garbage)", () => {
    const file = join(dir, "old.bin");
    writeFileSync(file, JSON.stringify({ format: "kiln.stat-cache/1", entries: [["/x", 1, 2, 3, "d"]] }));
    expect(new StatCache(file).statOf("/x")).toBeUndefined();
    writeFileSync(file, "KILNSTP1 but truncated");
    expect(new StatCache(file).statOf("/x")).toBeUndefined();
  });
});
