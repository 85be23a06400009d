import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { toolRoots } from "./namespace-sandbox.js";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("toolRoots", () => {
  it("binds a tool's install root, two levels up, and nothing under the system directories", () => {
    expect(toolRoots(["/home/u/.pyenv/shims/python3"])).toEqual(["/home/u/.pyenv"]);
    expect(toolRoots(["/usr/bin/python3", "/opt/tool/bin/t", "/opt/tool/lib/x/y"])).toEqual(["/opt/tool"]);
  });

  it("never /tmp itself: a tool at /tmp/<dir>/<tool> gets its directory", () => {
    expect(toolRoots(["/tmp/kiln-path-without-abc/python3"])).toEqual(["/tmp/kiln-path-without-abc"]);
    expect(toolRoots(["/tmp/python3"])).toEqual([]);
    // A link farm under /tmp to a system program: the farm's directory only.
    const farm = mkdtempSync("/tmp/kiln-farm-");
    dirs.push(farm);
    symlinkSync("/bin/sh", join(farm, "sh"));
    expect(toolRoots([join(farm, "sh")])).toEqual([farm]);
  });
});
