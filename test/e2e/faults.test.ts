/**
 * Faults of the machine while a build runs (a source removed mid-build, a full disk) fail the
 * step they hit with one message naming the label and the cause, exit 2, never "a bug in kiln"
 * or a stack trace; the workspace state is saved and the next build is correct.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, collect, makeTempDir, makeWorkspace, show, stackLines, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const sha256 = (path: string) => execFileSync("sha256sum", [path], { encoding: "utf8" }).slice(0, 64);

describe("environment faults during a build", () => {
  it("a source removed while the build runs fails its step with exit 2, naming label and file; the next build is correct", async () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const first = cmd({ outs: ["a.txt"], cmd: "sleep 2; echo a > $OUT/a.txt" });`,
        `export const second = cmd({ srcs: [":first", "later.txt"], outs: ["b.txt"], cmd: "cat $SRCS > $OUT/b.txt" });`,
      ].join("\n"),
      "p/later.txt": "later\n",
    });
    const child = fx.spawnKiln(["build", "-j1"]);
    // Removed once :first runs (its sandbox is laid out), so loading and the graph have seen the
    // file: a fixed delay lost that race on a loaded machine.
    const removed = (async () => {
      const sandboxes = join(fx.ws, ".kiln", "sandbox");
      const deadline = Date.now() + 10_000;
      const running = () => {
        try {
          return readdirSync(sandboxes).some((name) => existsSync(join(sandboxes, name, "kiln-out/p/first")));
        } catch {
          return false;
        }
      };
      while (!running() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      rmSync(join(fx.ws, "p/later.txt"));
    })();
    const [run] = await Promise.all([collect(child), removed]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toMatch(/FAILED \/\/p:second: kiln could not \w+ .*p\/later\.txt: no such file or directory \(was it removed during the build\?\)/);
    expect(run.stderr).not.toContain("bug in kiln");
    expect(stackLines(run.stderr)).toEqual([]);

    fx.write({ "p/later.txt": "back\n" });
    const again = await fx.build();
    expect(again.code, show(again)).toBe(0);
    expect(again.cached).toEqual(["//p:first"]);
    expect(again.executed).toEqual(["//p:second"]);
    expect(fx.read("kiln-out/p/second/b.txt")).toBe("a\nback\n");
  });

  const mountable = (() => {
    const probe = makeTempDir("kiln-mount-probe-");
    const ok = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]).status === 0;
    if (ok) spawnSync("umount", [probe]);
    return ok;
  })();

  it.runIf(mountable)("a full disk while laying out a sandbox fails the step with exit 2; with room again the build is correct", async () => {
    const disk = makeTempDir("kiln-full-disk-");
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", disk]);
    try {
      const ws = join(disk, "ws");
      mkdirSync(join(ws, "p"), { recursive: true });
      writeFileSync(join(ws, "WORKSPACE.ts"), WORKSPACE_TS);
      writeFileSync(join(ws, "p/BUILD.ts"), `import { cmd } from "kiln";\nexport const h = cmd({ srcs: ["s.bin"], outs: ["h.txt"], cmd: "sha256sum p/s.bin | cut -c1-64 > $OUT/h.txt" });\n`);
      // 4 MB on a 6 MB disk: the sandbox's copy does not fit.
      execFileSync("sh", ["-c", `head -c 4000000 /dev/urandom > ${join(ws, "p/s.bin")}`]);
      const cache = join(makeTempDir(), "cache");
      const fx = makeWorkspace({}, { cache });
      const run = await fx.kiln(["build", "-C", ws], { noWorkspaceFlag: true });
      expect(run.code, show(run)).toBe(2);
      expect(run.stderr).toMatch(/FAILED \/\/p:h: kiln could not \w+ .*: no space left on the device/);
      expect(run.stderr).not.toContain("bug in kiln");

      execFileSync("mount", ["-o", "remount,size=64m", disk]);
      const again = await fx.kiln(["build", "-C", ws], { noWorkspaceFlag: true });
      expect(again.code, show(again)).toBe(0);
      expect(execFileSync("cat", [join(ws, "kiln-out/p/h/h.txt")], { encoding: "utf8" }).trim()).toBe(sha256(join(ws, "p/s.bin")));
    } finally {
      spawnSync("umount", ["-l", disk]);
    }
  });
});
