import { execFileSync } from "node:child_process";
import { linkSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { StatCache } from "./stat-cache.js";
import { digestBytes } from "../key/digest.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-stat-cache-"));
/** A clock well past the racy window of files these tests just wrote. */
const later = () => Date.now() + 60_000;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("StatCache persistence", () => {
  it("reads back what it saved, snapshot and log, and forgets what was forgotten", async () => {
    const file = join(dir, "stat-cache.bin");
    const a = join(dir, "a.txt");
    const b = join(dir, "b\twith tab.txt");
    writeFileSync(a, "alpha");
    writeFileSync(b, "beta");
    const first = new StatCache(file, later);
    expect((await first.digest(a)).digest).toBe(digestBytes("alpha"));
    await first.digest(b);
    first.save(); // the first save writes the snapshot
    expect(readFileSync(file).subarray(0, 8).toString()).toBe("KILNSTP2");

    const second = new StatCache(file, later);
    expect(second.lookup(a, statSync(a))).toBe(digestBytes("alpha"));
    expect(second.lookup(b, statSync(b))).toBe(digestBytes("beta"));
    second.forget(a);
    second.save(); // a log line
    expect(readFileSync(`${file}.log`, "utf8")).toContain("a.txt");

    const third = new StatCache(file, later);
    expect(third.lookup(a, statSync(a))).toBeUndefined();
    expect(third.identityOf(b)!.slice(0, 3)).toEqual([4, statSync(b).mtimeMs, statSync(b).ino]);
  });

  it("keeps the rest of a snapshot when a path holds a newline (the layout joins paths with them)", async () => {
    const file = join(dir, "newline.bin");
    const odd = join(dir, "two\nlines.txt");
    const plain = join(dir, "plain.txt");
    writeFileSync(odd, "odd");
    writeFileSync(plain, "plain");
    const cache = new StatCache(file, later);
    await cache.digest(odd);
    await cache.digest(plain);
    cache.save();
    const reread = new StatCache(file, later);
    expect(reread.lookup(plain, statSync(plain))).toBe(digestBytes("plain"));
    expect(reread.lookup(odd, statSync(odd))).toBeUndefined();
  });

  it("starts empty from a snapshot it cannot read (an older JSON one, or garbage)", () => {
    const file = join(dir, "old.bin");
    writeFileSync(file, JSON.stringify({ format: "kiln.stat-cache/1", entries: [["/x", 1, 2, 3, "d"]] }));
    expect(new StatCache(file, later).identityOf("/x")).toBeUndefined();
    writeFileSync(file, "KILNSTP2 but truncated");
    expect(new StatCache(file, later).identityOf("/x")).toBeUndefined();
  });
});

describe("StatCache identity", () => {
  it("re-hashes a same-size rewrite whose mtime was put back (ctime moved)", async () => {
    const file = join(dir, "same-size.txt");
    writeFileSync(file, "aaaa");
    const cache = new StatCache(undefined, later);
    expect((await cache.digest(file)).digest).toBe(digestBytes("aaaa"));
    const before = statSync(file);
    execFileSync("cp", ["-p", file, `${file}.ref`]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(file, "bbbb");
    execFileSync("touch", ["-r", `${file}.ref`, file]);
    expect([statSync(file).size, statSync(file).mtimeMs, statSync(file).ino]).toEqual([before.size, before.mtimeMs, before.ino]);
    expect((await cache.digest(file)).digest).toBe(digestBytes("bbbb"));
  });

  it("does not trust a stat recorded within the racy window of the file's last change", async () => {
    const file = join(dir, "racy.txt");
    writeFileSync(file, "one");
    const now = new StatCache(); // the real clock: the file changed just now
    await now.digest(file);
    expect(now.lookup(file, statSync(file))).toBeUndefined();
    const settled = new StatCache(undefined, later);
    await settled.digest(file);
    expect(settled.lookup(file, statSync(file))).toBe(digestBytes("one"));
  });

  it("records kiln's own files without ctime: a new link (which moves ctime) still matches", async () => {
    const file = join(dir, "owned.txt");
    writeFileSync(file, "blob");
    const cache = new StatCache();
    await cache.digest(file, "kiln");
    linkSync(file, join(dir, "owned-link.txt"));
    expect(cache.lookup(file, statSync(file))).toBe(digestBytes("blob"));
  });
});
