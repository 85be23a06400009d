import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rawEventPath } from "./watcher.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-watcher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("rawEventPath", () => {
  it("names the entry below a watched directory", () => {
    mkdirSync(join(dir, "data"));
    expect(rawEventPath(join(dir, "data"), "g0.bin.tmp")).toBe(join(dir, "data", "g0.bin.tmp"));
  });

  it("names the watched file itself, whatever name its watch began under (a save by rename)", () => {
    writeFileSync(join(dir, "g0.bin"), "bytes");
    expect(rawEventPath(join(dir, "g0.bin"), "g0.bin")).toBe(join(dir, "g0.bin"));
    expect(rawEventPath(join(dir, "g0.bin"), "g0.bin.tmp")).toBe(join(dir, "g0.bin"));
  });

  it("keeps the entry below a watched path that is gone (the build then finds what is there)", () => {
    expect(rawEventPath(join(dir, "gone"), "x")).toBe(join(dir, "gone", "x"));
  });
});
