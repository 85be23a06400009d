/**
 * Hermeticity of `cmd` steps: the sandbox holds only declared inputs, and the environment holds
 * only what kiln sets (nothing of the caller's), with HOME inside the sandbox and a fixed PATH.
 * The tests of commands that attack their sandbox run in the directory sandbox (--sandbox dir),
 * whose defences are kiln's own checks; in the namespace sandbox (hermetic.test.ts) the same
 * attacks meet a read-only file system.
 */
import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const DIR = ["--sandbox", "dir"];
const bwrapWorks = spawnSync("bwrap", ["--ro-bind", "/", "/", "true"]).status === 0;

describe("cmd sandbox", () => {
  it("holds only declared inputs and a clean environment", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "pkg/in.txt": "declared\n",
      "pkg/other.txt": "undeclared\n",
      "pkg/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const probe = cmd({`,
        `  srcs: { x: "in.txt" },`,
        `  outs: ["r.txt", "declared.txt", "env.txt", "pwd.txt"],`,
        `  cmd: "if [ -e pkg/other.txt ]; then echo present > $OUT/r.txt; else echo absent > $OUT/r.txt; fi; " +`,
        `    "if [ -e pkg/in.txt ]; then cat pkg/in.txt > $OUT/declared.txt; else echo missing > $OUT/declared.txt; fi; " +`,
        `    "env > $OUT/env.txt; pwd -P > $OUT/pwd.txt",`,
        `});`,
        ``,
      ].join("\n"),
    });
    const leakPathEntry = "/kiln-e2e-leak/bin";
    const run = await f.build([], {
      env: { KILN_TEST_LEAK: "1", PATH: `${leakPathEntry}:${process.env.PATH}`, HOME: "/kiln-e2e-home" },
    });
    expect(run.code, show(run)).toBe(0);
    expect(f.read("kiln-out/pkg/probe/r.txt")).toBe("absent\n");
    expect(f.read("kiln-out/pkg/probe/declared.txt")).toBe("declared\n");

    const env = new Map(
      f
        .read("kiln-out/pkg/probe/env.txt")
        .split("\n")
        .filter((line) => line.includes("="))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
    );
    const sandboxDir = f.read("kiln-out/pkg/probe/pwd.txt").trim();
    expect(env.has("KILN_TEST_LEAK")).toBe(false);
    expect(env.has("KILN_CACHE_DIR")).toBe(false);
    expect(env.has("NO_COLOR")).toBe(false);
    expect(env.get("PATH")).toBeDefined();
    expect(env.get("PATH")).not.toContain(leakPathEntry);
    expect(env.get("PATH")).not.toContain("node_modules");
    expect(env.get("PATH")!.endsWith("/usr/local/bin:/usr/bin:/bin")).toBe(true);
    expect(env.get("HOME")).not.toBe("/kiln-e2e-home");
    expect(env.get("HOME")!.startsWith(`${sandboxDir}/`), `HOME=${env.get("HOME")} sandbox=${sandboxDir}`).toBe(true);
    expect(env.get("TMPDIR")!.startsWith(`${sandboxDir}/`), `TMPDIR=${env.get("TMPDIR")}`).toBe(true);
    expect(env.get("SRCS")).toBe("pkg/in.txt");
    // Every variable is one kiln sets or one /bin/sh itself adds.
    const allowed = new Set(["PATH", "HOME", "TMPDIR", "LANG", "OUT", "SRCS", "SRCS_FILE", "PWD", "OLDPWD", "SHLVL", "_"]);
    expect([...env.keys()].filter((name) => !allowed.has(name))).toEqual([]);
  });

  it("a command writing to its inputs cannot change a source, and one writing to a dependency's output fails and is repaired", async () => {
    // Sources are copied into the sandbox: the append lands in the copy. Dependencies' outputs
    // are hard-linked: writing to one is caught after the step.
    const f = makeWorkspace(inputWritersWorkspace());
    const evil = await f.build(DIR);
    expect(evil.code).toBe(1);
    expect(evil.failed).toEqual(["//p:second"]);
    expect(evil.stderr).toContain("wrote to its inputs kiln-out/p/first/o.txt");
    expect(f.read("p/in.txt")).toBe("clean\n");

    // Once the command behaves, the damaged output is detected and rebuilt: no trace of evil2.
    f.write({ "p/BUILD.ts": f.read("p/BUILD.ts").replace("(echo evil2 >> $SRCS) 2>/dev/null; ", "") });
    const repaired = await f.build(DIR);
    expect(repaired.code, show(repaired)).toBe(0);
    expect(f.read("kiln-out/p/first/o.txt")).toBe("clean\nevil\n");
    expect(f.read("kiln-out/p/second/o2.txt")).toBe("clean\nevil\n");
    const again = await f.build(DIR);
    expect(again.executed).toEqual([]);
    expect(f.read("p/in.txt")).toBe("clean\n");
  });

  it("a sandbox reused by the next step shows it only its own inputs, whatever the last command did", async () => {
    // One job at a time, so every step takes over the sandbox the step before it left.
    // s1 and s2 replace their copied source with a symlink and a hard link to a file outside the
    // sandbox; the next step's source must not be written through them.
    const steps = [
      { name: "s1", content: "one, the longest of all the inputs\n", prank: `ln -sf "$(cd ../../..; pwd)/victim.txt" p/in/s1.txt` },
      { name: "s2", content: "two\n", prank: `ln -f ../../../victim.txt p/in/s2.txt` },
      { name: "s3", content: "three: longer than two\n", prank: "mkdir -p stray/deep && echo x > stray/deep/f && echo y > p/in/stray.txt && echo z > $TMPDIR/t" },
      { name: "s4", content: "4\n", prank: "true" },
    ];
    const files: Record<string, string> = { "WORKSPACE.ts": WORKSPACE_TS, "victim.txt": "untouched\n" };
    const build = [`import { cmd } from "kiln";`];
    for (const { name, content, prank } of steps) {
      files[`p/in/${name}.txt`] = content;
      // What the command sees, apart from kiln's own control files, then what it reads.
      const look =
        "seen=$(find . -path ./.tmp -prune -o -print | grep -v '^./.kiln-' | sort); tmp=$(ls -A .tmp); " +
        'echo "$seen" > $OUT/seen.txt; printf %s "$tmp" > $OUT/tmp.txt; cat $SRCS > $OUT/read.txt';
      build.push(`export const ${name} = cmd({ srcs: ["in/${name}.txt"], outs: ["seen.txt", "tmp.txt", "read.txt"], cmd: ${JSON.stringify(`${look}; ${prank}`)} });`);
    }
    files["p/BUILD.ts"] = build.join("\n") + "\n";
    const f = makeWorkspace(files);
    const run = await f.build(["-j", "1", ...DIR]);
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toHaveLength(4);
    for (const { name, content } of steps) {
      expect(f.read(`kiln-out/p/${name}/read.txt`), name).toBe(content);
      expect(f.read(`kiln-out/p/${name}/tmp.txt`), name).toBe("");
      expect(f.read(`kiln-out/p/${name}/seen.txt`).split("\n").filter(Boolean), name).toEqual([
        ".",
        "./kiln-out",
        "./kiln-out/p",
        `./kiln-out/p/${name}`,
        "./p",
        "./p/in",
        `./p/in/${name}.txt`,
      ]);
    }
    expect(f.read("victim.txt")).toBe("untouched\n");
    for (const { name, content } of steps) expect(f.read(`p/in/${name}.txt`)).toBe(content);
  });

  it("an aggregator's sandbox, kept between builds, never shows what an earlier run left in it", async () => {
    // The aggregator's sandbox is parked with its links and directories; after each build it is
    // emptied by reading only the directories whose mtime moved. Each run leaves strays in the
    // directory of the unchanged input b, which kiln itself does not touch when a changes.
    const look =
      "seen=$(find . -path ./.tmp -prune -o -print | grep -v '^./.kiln-' | sort); " +
      'echo "$seen" > $OUT/seen.txt; cat $SRCS > $OUT/all.txt; ' +
      // Every other round, so that the round after a clean one finds b's directory trusted by mtime.
      'case "$(cat kiln-out/p/a/out.txt)" in a1|a3) echo stray > kiln-out/p/b/stray.txt; mkdir -p kiln-out/p/b/newdir/deep; ln -s /etc kiln-out/p/b/link;; esac';
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/a.txt": "a0\n",
      "p/b.txt": "b\n",
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const a = cmd({ srcs: ["a.txt"], outs: ["out.txt"], cmd: "cp $SRCS $OUT/out.txt" });`,
        `export const b = cmd({ srcs: ["b.txt"], outs: ["out.txt"], cmd: "cp $SRCS $OUT/out.txt" });`,
        `export const agg = cmd({ srcs: [":a", ":b"], outs: ["seen.txt", "all.txt"], cmd: ${JSON.stringify(look)} });`,
        ``,
      ].join("\n"),
    });
    const expected = [".", "./kiln-out", "./kiln-out/p", "./kiln-out/p/a", "./kiln-out/p/a/out.txt", "./kiln-out/p/agg", "./kiln-out/p/b", "./kiln-out/p/b/out.txt"];
    for (let round = 0; round < 5; round++) {
      f.write({ "p/a.txt": `a${round}\n` });
      const run = await f.build(DIR);
      expect(run.code, show(run)).toBe(0);
      expect(run.executed, `round ${round}`).toEqual(round === 0 ? ["//p:a", "//p:agg", "//p:b"] : ["//p:a", "//p:agg"]);
      expect(f.read("kiln-out/p/agg/seen.txt").split("\n").filter(Boolean), `round ${round}`).toEqual(expected);
      expect(f.read("kiln-out/p/agg/all.txt")).toBe(`a${round}\nb\n`);
      // Let directory mtimes age past the point where kiln trusts them.
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 120));
    }
  });

  it.runIf(bwrapWorks)("in the namespace sandbox a command cannot write to its inputs at all: sources and dependencies' outputs are read-only", async () => {
    const f = makeWorkspace(inputWritersWorkspace());
    const run = await f.build(["--sandbox", "bwrap"]);
    expect(run.code, show(run)).toBe(0);
    expect(f.read("kiln-out/p/first/o.txt")).toBe("clean\n");
    expect(f.read("kiln-out/p/second/o2.txt")).toBe("clean\n");
    expect(f.read("p/in.txt")).toBe("clean\n");
  });

  // As root, bwrap leaves the command every capability unless told: `mount -o remount,rw` then
  // made the read-only binds writable, and a write reached the dependency's output (a hard link to
  // kiln-out and the store). kiln drops them all.
  it.runIf(bwrapWorks)("in the namespace sandbox a command has no capabilities, so it cannot remount its inputs writable", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/in.txt": "clean\n",
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const first = cmd({ srcs: ["in.txt"], outs: ["o.txt"], cmd: "cp $SRCS $OUT/o.txt" });`,
        `export const second = cmd({ srcs: [":first"], outs: ["caps.txt"], cmd: "grep CapEff /proc/self/status > $OUT/caps.txt; (mount -o remount,rw,bind $PWD; echo evil >> $SRCS) 2>/dev/null; true" });`,
        ``,
      ].join("\n"),
    });
    const run = await f.build(["--sandbox", "bwrap"]);
    expect(run.code, show(run)).toBe(0);
    expect(f.read("kiln-out/p/second/caps.txt")).toBe("CapEff:\t0000000000000000\n");
    expect(f.read("kiln-out/p/first/o.txt")).toBe("clean\n");
    const again = await f.build(["--sandbox", "bwrap"]);
    expect(again.executed, show(again)).toEqual([]);
  });
});

/** Two commands that try to write to their inputs: a copied source, then a dependency's output. */
function inputWritersWorkspace(): Record<string, string> {
  return {
    "WORKSPACE.ts": WORKSPACE_TS,
    "p/in.txt": "clean\n",
    "p/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const first = cmd({ srcs: { x: "in.txt" }, outs: ["o.txt"], cmd: "(echo evil >> p/in.txt) 2>/dev/null; cp p/in.txt $OUT/o.txt" });`,
      `export const second = cmd({ srcs: [":first"], outs: ["o2.txt"], cmd: "(echo evil2 >> $SRCS) 2>/dev/null; cp $SRCS $OUT/o2.txt" });`,
      ``,
    ].join("\n"),
  };
}
