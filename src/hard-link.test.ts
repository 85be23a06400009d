import { spawn } from "node:child_process";
import { linkSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hardLink } from "./hard-link.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-hard-link-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Links `source` to a scratch name `count` times; returns how many links failed with ENOENT. */
function linkLoop(link: (from: string, to: string) => void, source: string, count: number): number {
  let enoent = 0;
  const scratch = join(dir, "scratch");
  for (let i = 0; i < count; i++) {
    try {
      link(source, scratch);
      unlinkSync(scratch);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      enoent++;
    }
  }
  return enoent;
}

describe("hardLink", () => {
  it("links a name another process keeps replacing by rename, where link(2) alone fails", async () => {
    const source = join(dir, "source");
    writeFileSync(source, "x");
    // What a concurrent kiln does to kiln-out/ and the store: rename a new inode over the name.
    const replacer = spawn(process.execPath, [
      "-e",
      `const fs = require("node:fs"); for (;;) { fs.writeFileSync(${JSON.stringify(`${source}.new`)}, "x"); fs.renameSync(${JSON.stringify(`${source}.new`)}, ${JSON.stringify(source)}); }`,
    ]);
    try {
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 300));
      // The race is live: plain link(2) hits ENOENT on a name that never stopped existing.
      let plain = 0;
      for (let round = 0; round < 20 && plain === 0; round++) plain += linkLoop(linkSync, source, 5000);
      expect(plain).toBeGreaterThan(0);
      expect(linkLoop(hardLink, source, 50000)).toBe(0);
    } finally {
      replacer.kill("SIGKILL");
    }
  });

  it("still fails when the source is really gone, or the target's directory is", () => {
    expect(() => hardLink(join(dir, "missing"), join(dir, "to"))).toThrow(/ENOENT/);
    writeFileSync(join(dir, "there"), "x");
    expect(() => hardLink(join(dir, "there"), join(dir, "no-such-dir", "to"))).toThrow(/ENOENT/);
  });
});
