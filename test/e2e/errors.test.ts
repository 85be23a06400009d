/**
 * What a user sees when something is wrong: failing and misbehaving steps (exit 1), and a wrong
 * request or workspace (exit 2) with the file, line, label or suggestion it needs, never a stack.
 */
import { existsSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeTempDir, makeWorkspace, runKiln, show, stackLines, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

function expectNoStack(text: string): void {
  expect(stackLines(text), text).toEqual([]);
}

describe("failing steps", () => {
  it("a declared output the command does not write fails the step, naming the label and the file", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const nox = cmd({ srcs: [], outs: ["x.txt"], cmd: "echo hi > $OUT/y.txt.tmp; rm $OUT/y.txt.tmp" });`,
        ``,
      ].join("\n"),
    });
    const run = await f.kiln(["build", "//p:nox"]);
    expect(run.code, show(run)).toBe(1);
    expect(run.stderr).toContain("//p:nox");
    expect(run.stderr).toContain("x.txt");
    expectNoStack(run.stderr);
    expect(existsSync(f.out("p", "nox", "x.txt"))).toBe(false);
  });

  it("an undeclared output written fails the step, naming it", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const extra = cmd({ srcs: [], outs: ["x.txt"], cmd: "echo x > $OUT/x.txt; echo y > $OUT/extra.txt" });`,
        ``,
      ].join("\n"),
    });
    const run = await f.kiln(["build"]);
    expect(run.code, show(run)).toBe(1);
    expect(run.stderr).toContain("//p:extra");
    expect(run.stderr).toContain("extra.txt");
    expectNoStack(run.stderr);
  });

  const failingFiles = {
    "WORKSPACE.ts": WORKSPACE_TS,
    "p/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const bad = cmd({ srcs: [], outs: ["b.txt"], cmd: "echo first line >&2; echo boom >&2; exit 3" });`,
      `export const after = cmd({ srcs: [":bad"], outs: ["a.txt"], cmd: "cat $SRCS > $OUT/a.txt" });`,
      `export const good = cmd({ srcs: [], outs: ["g.txt"], cmd: "echo ok > $OUT/g.txt" });`,
      ``,
    ].join("\n"),
  };

  it("a failing command: exit 1, label, command and stderr tail; -j 1 stops before independent work", async () => {
    const f = makeWorkspace(failingFiles);
    const plain = await f.kiln(["build", "-j", "1"]);
    expect(plain.code, show(plain)).toBe(1);
    expect(plain.stderr).toContain("//p:bad");
    expect(plain.stderr).toContain("echo first line >&2; echo boom >&2; exit 3");
    expect(plain.stderr).toContain("boom");
    expectNoStack(plain.stderr);

    const f2 = makeWorkspace(failingFiles);
    const run = await f2.build(["-j", "1"]);
    expect(run.code, show(run)).toBe(1);
    expect(run.failed).toEqual(["//p:bad"]);
    expect(run.summary.failed).toBe(1);
    expect(run.summary.steps).toBe(3);
    // //p:bad heads the longest path, so it runs first; without -k nothing is started after it.
    expect(run.summary.executed + run.summary.failed).toBeLessThan(run.summary.steps);
    expect(run.executed).toEqual([]);
    expect(existsSync(f2.out("p", "good", "g.txt"))).toBe(false);
    expect(existsSync(f2.out("p", "after", "a.txt"))).toBe(false);
  });

  it("-k builds every target not depending on the failure; failures are not cached", async () => {
    const f = makeWorkspace(failingFiles);
    const run = await f.build(["-k", "-j", "1"]);
    expect(run.code, show(run)).toBe(1);
    expect(run.failed).toEqual(["//p:bad"]);
    expect(run.executed).toEqual(["//p:good"]);
    expect(run.summary).toMatchObject({ steps: 3, executed: 1, failed: 1 });
    expect(f.read("kiln-out/p/good/g.txt")).toBe("ok\n");
    expect(existsSync(f.out("p", "after", "a.txt"))).toBe(false);
    expect(run.stderr).toContain("boom");

    const again = await f.build(["-k", "-j", "1"]);
    expect(again.code, show(again)).toBe(1);
    expect(again.failed).toEqual(["//p:bad"]);
    expect(again.cached).toEqual(["//p:good"]);
    expect(again.stderr).toContain("boom");
  });
});

describe("workspace and request errors", () => {
  it("a cycle: exit 2 with the cycle as a path", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "a/BUILD.ts": `import { cmd } from "kiln";\nexport const x = cmd({ srcs: ["//b:y"], outs: ["x.txt"], cmd: "cat $SRCS > $OUT/x.txt" });\n`,
      "b/BUILD.ts": `import { cmd } from "kiln";\nexport const y = cmd({ srcs: ["//a:x"], outs: ["y.txt"], cmd: "cat $SRCS > $OUT/y.txt" });\n`,
    });
    const run = await f.kiln(["build", "//..."]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain("//a:x -> //b:y -> //a:x");
    expectNoStack(run.stderr);
    expect(run.stdout).not.toContain("executed");
  });

  it("a BUILD.ts syntax error names file:line", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "ok/BUILD.ts": `import { cmd } from "kiln";\nexport const fine = cmd({ srcs: [], outs: ["f.txt"], cmd: "echo > $OUT/f.txt" });\n`,
      "pkg/BUILD.ts": [`import { cmd } from "kiln";`, ``, `export const broken = cmd({ srcs: [, outs: ["x"] );`, ``].join("\n"),
    });
    const run = await f.kiln(["build", "//..."]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toMatch(/pkg\/BUILD\.ts:3:/);
    expectNoStack(run.stderr);
  });

  it("a bad attribute names BUILD.ts:line, the label and the attribute", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "pkg/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const fine = cmd({ srcs: [], outs: ["f.txt"], cmd: "echo > $OUT/f.txt" });`,
        `export const wrong = cmd({ srcs: [], outs: "x", cmd: "echo > $OUT/x" } as any);`,
        ``,
      ].join("\n"),
    });
    const run = await f.kiln(["build", "//..."]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toMatch(/pkg\/BUILD\.ts:3\b/);
    expect(run.stderr).toContain("//pkg:wrong");
    expect(run.stderr).toContain("outs");
    expectNoStack(run.stderr);
  });

  it("an exception thrown at BUILD.ts top level names file:line", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "pkg/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `const rows: number = 4;`,
        `if (rows > 3) throw new Error("too many rows configured");`,
        `export const t = cmd({ srcs: [], outs: ["t.txt"], cmd: "echo > $OUT/t.txt" });`,
        ``,
      ].join("\n"),
    });
    const run = await f.kiln(["build", "//..."]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toMatch(/pkg\/BUILD\.ts:3\b/);
    expect(run.stderr).toContain("too many rows configured");
    expectNoStack(run.stderr);
  });

  it("an unknown target suggests the nearest label", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "a/in.txt": "x\n",
      "a/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const upper = cmd({ srcs: { x: "in.txt" }, outs: ["up.txt"], cmd: "tr a-z A-Z < $SRCS > $OUT/up.txt" });`,
        `export const lower = cmd({ srcs: { x: "in.txt" }, outs: ["lo.txt"], cmd: "cat $SRCS > $OUT/lo.txt" });`,
        ``,
      ].join("\n"),
    });
    const run = await f.kiln(["build", "//a:uper"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain("//a:uper");
    expect(run.stderr).toContain("//a:upper");
    expect(run.stderr).not.toContain("//a:lower");
    expectNoStack(run.stderr);
  });

  it("no WORKSPACE.ts anywhere upward: exit 2 with a clear message", async () => {
    const dir = makeTempDir();
    const run = await runKiln(["build"], { cwd: dir, env: { KILN_CACHE_DIR: makeTempDir() } });
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain("WORKSPACE.ts");
    expectNoStack(run.stderr);
  });

  it("a bad pattern: exit 2", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "models/BUILD.ts": `import { cmd } from "kiln";\nexport const x = cmd({ srcs: [], outs: ["x.txt"], cmd: "echo > $OUT/x.txt" });\n`,
    });
    const run = await f.kiln(["build", "models:x"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain("models:x");
    expectNoStack(run.stderr);
    expect(existsSync(f.out("models", "x", "x.txt"))).toBe(false);
  });
});
