/**
 * Sources that are symbolic links (issue 10, item 3): read as their target's content, which is
 * what the key covers, in every way a source reaches a sandbox (copied up to 64 MiB, hard-linked
 * above: a link(2) of the link itself pointed nowhere inside the sandbox); a change of the
 * target's content reruns dependants; a link leading out of the workspace is one warning a build
 * naming the source and where it points (not on a no-op build: nothing is loaded then); a
 * dangling link is an input error naming it.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeTempDir, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const bwrapWorks = spawnSync("bwrap", ["--ro-bind", "/", "/", "true"]).status === 0;
const modes = [["dir", true], ["bwrap", bwrapWorks]] as const;

/** Over SHARED_INPUT_SIZE (64 MiB): hard-linked into sandboxes, not copied. */
const LARGE = 64 * 1024 * 1024 + 1;
const largeFile = (first: string) => {
  const bytes = Buffer.alloc(LARGE, 0x2e);
  bytes.write(first, 0);
  return bytes;
};

const count = (text: string, part: string) => text.split(part).length - 1;

describe.each(modes)("sources that are symbolic links (--sandbox %s)", (mode, works) => {
  it.runIf(works)("are read as their target's content, small (copied) and large (linked); a change of the target reruns dependants", async () => {
    const elsewhere = makeTempDir("kiln-elsewhere-");
    const outsideFile = join(elsewhere, "settings.txt");
    writeFileSync(outsideFile, "threshold=1\n");
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const first = cmd({ srcs: ["settings.txt", "big.bin"], outs: ["o.txt"], cmd: "cat p/settings.txt > $OUT/o.txt; head -c 1 p/big.bin >> $OUT/o.txt; wc -c < p/big.bin >> $OUT/o.txt" });`,
        `export const second = cmd({ srcs: [":first"], outs: ["o.txt"], cmd: "tr a-z A-Z < $SRCS > $OUT/o.txt" });`,
        ``,
      ].join("\n"),
    });
    mkdirSync(join(f.ws, "data"));
    writeFileSync(join(f.ws, "data", "big.bin"), largeFile("A"));
    symlinkSync("../data/big.bin", join(f.ws, "p", "big.bin")); // relative, inside the workspace
    symlinkSync(outsideFile, join(f.ws, "p", "settings.txt")); // absolute, out of the workspace

    const first = await f.build(["--sandbox", mode]);
    expect(first.code, show(first)).toBe(0);
    expect(f.read("kiln-out/p/second/o.txt")).toBe(`THRESHOLD=1\nA${LARGE}\n`);
    const warning = `p/settings.txt -> ${outsideFile}`;
    expect(count(first.stderr, warning), first.stderr).toBe(1);
    expect(first.stderr).not.toContain("p/big.bin ->");

    // A no-op build: nothing runs. (Answered from the up-to-date stamp, it loads nothing and
    // prints no warning; within 2 s of the last build the stamp is racy and the graph is loaded.)
    const noop = await f.build(["--sandbox", mode]);
    expect(noop.executed, show(noop)).toEqual([]);
    expect(count(noop.stderr, warning)).toBeLessThanOrEqual(1);

    writeFileSync(outsideFile, "threshold=2\n");
    const small = await f.build(["--sandbox", mode]);
    expect(small.executed, show(small)).toEqual(["//p:first", "//p:second"]);
    expect(f.read("kiln-out/p/second/o.txt")).toBe(`THRESHOLD=2\nA${LARGE}\n`);
    expect(count(small.stderr, warning)).toBe(1);

    writeFileSync(join(f.ws, "data", "big.bin"), largeFile("B"));
    const large = await f.build(["--sandbox", mode]);
    expect(large.executed, show(large)).toEqual(["//p:first", "//p:second"]);
    expect(f.read("kiln-out/p/second/o.txt")).toBe(`THRESHOLD=2\nB${LARGE}\n`);

    // The link itself moved to another file: the new file's content.
    writeFileSync(join(elsewhere, "other.txt"), "threshold=3\n");
    spawnSync("ln", ["-sfn", join(elsewhere, "other.txt"), join(f.ws, "p", "settings.txt")]);
    const moved = await f.build(["--sandbox", mode]);
    expect(moved.executed, show(moved)).toEqual(["//p:first", "//p:second"]);
    expect(f.read("kiln-out/p/second/o.txt")).toBe(`THRESHOLD=3\nB${LARGE}\n`);
    expect(moved.stderr).toContain(`p/settings.txt -> ${join(elsewhere, "other.txt")}`);
  });
});

describe("source links that cannot be read", () => {
  it("a dangling link, a loop, or a link into kiln-out/ is an input error naming it (globs included)", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/real.txt": "real\n",
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`, // 1
        `export const made = cmd({ outs: ["m.txt"], cmd: "echo m > $OUT/m.txt" });`, // 2
        `export const dangling = cmd({ srcs: ["gone.txt"], outs: ["o"], cmd: "cat p/gone.txt > $OUT/o" });`, // 3
        `export const loop = cmd({ srcs: ["loop.txt"], outs: ["o"], cmd: "true > $OUT/o" });`, // 4
        `export const sneaky = cmd({ srcs: ["made.txt"], outs: ["o"], cmd: "cat p/made.txt > $OUT/o" });`, // 5
        `export const globbed = cmd({ srcs: ["links/*.txt"], outs: ["o"], cmd: "cat $SRCS > $OUT/o" });`, // 6
        ``,
      ].join("\n"),
    });
    symlinkSync("/nonexistent/kiln-test", join(f.ws, "p", "gone.txt"));
    symlinkSync("loop.txt", join(f.ws, "p", "loop.txt"));
    symlinkSync("../kiln-out/p/made/m.txt", join(f.ws, "p", "made.txt"));
    mkdirSync(join(f.ws, "p", "links"));
    symlinkSync("../../kiln-out/p/made/m.txt", join(f.ws, "p", "links", "a.txt"));
    // With kiln-out/p/made/m.txt built, the links into kiln-out/ resolve: still refused.
    const full = f.read("p/BUILD.ts");
    f.write({ "p/BUILD.ts": full.split("\n").slice(0, 2).join("\n") + "\n" });
    const made = await f.kiln(["build"]);
    expect(made.code, show(made)).toBe(0);
    f.write({ "p/BUILD.ts": full });

    const run = await f.kiln(["build"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`p/BUILD.ts:3: //p:dangling: input "gone.txt" (p/gone.txt) is a symbolic link to nothing: it points to "/nonexistent/kiln-test"`);
    expect(run.stderr).toContain(`p/BUILD.ts:4: //p:loop: input "loop.txt" (p/loop.txt) is a loop of symbolic links`);
    expect(run.stderr).toContain(`p/BUILD.ts:5: //p:sneaky: input "made.txt" (p/made.txt) is a link into kiln-out/`);
    expect(run.stderr).toContain(`p/BUILD.ts:6: //p:globbed: input "links/*.txt" (p/links/a.txt) is a link into kiln-out/`);
  });
});
