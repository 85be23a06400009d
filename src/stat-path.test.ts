import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { statPath, statPathMethod } from "./stat-path.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-stat-path-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("statPath", () => {
  it("uses Node's fs binding on this Node (if this fails, a new Node changed it: statSync still works, slower)", () => {
    expect(statPathMethod).toBe("binding");
  });

  it("gives exactly statSync's size, mtimeMs, inode and ctimeMs for files, directories and symlinks", () => {
    const file = join(dir, "file.txt");
    writeFileSync(file, "twelve bytes");
    const link = join(dir, "link");
    symlinkSync(file, link);
    for (const path of [file, dir, link, process.execPath]) {
      const expected = statSync(path);
      expect(statPath(path)).toEqual({
        size: expected.size,
        mtimeMs: expected.mtimeMs,
        ino: expected.ino,
        ctimeMs: expected.ctimeMs,
        isDirectory: expected.isDirectory(),
        isFile: expected.isFile(),
      });
    }
    expect(statPath(file)!.size).toBe(12);
    expect(statPath(dir)!.isDirectory).toBe(true);
  });

  it("refuses a path with a NUL byte as statSync does (the binding would stat a shorter path)", () => {
    writeFileSync(join(dir, "nul"), "");
    expect(() => statPath(join(dir, "nul\0tail"))).toThrow(/null bytes/);
  });

  it("is undefined for a missing path, including under a file", () => {
    expect(statPath(join(dir, "missing"))).toBeUndefined();
    const file = join(dir, "plain");
    writeFileSync(file, "");
    expect(() => statPath(join(file, "below"))).toThrow(/ENOTDIR/);
  });
});
