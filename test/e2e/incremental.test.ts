/**
 * Incrementality through the real CLI: what a no-op, a content edit, a touch, a helper-module
 * edit, early cutoff and a new glob match each rerun, and that keys do not depend on where the
 * workspace or the cache lives.
 */
import { readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

/** a:upper <- a/in.txt; a:lower <- a/other.txt; b:final <- a:upper; c:shout <- b:final; d:low <- a:lower. */
function chainFiles(): Record<string, string> {
  return {
    "WORKSPACE.ts": WORKSPACE_TS,
    "a/in.txt": "hello\nworld\n",
    "a/other.txt": "Quiet\n",
    "a/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const upper = cmd({ srcs: { x: "in.txt" }, outs: ["up.txt"], cmd: "tr a-z A-Z < $SRCS > $OUT/up.txt" });`,
      `export const lower = cmd({ srcs: { x: "other.txt" }, outs: ["lo.txt"], cmd: "tr A-Z a-z < $SRCS > $OUT/lo.txt" });`,
      ``,
    ].join("\n"),
    "b/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const final = cmd({ srcs: ["//a:upper"], outs: ["final.txt"], cmd: "cat $SRCS > $OUT/final.txt; echo end >> $OUT/final.txt" });`,
      ``,
    ].join("\n"),
    "c/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const shout = cmd({ srcs: ["//b:final"], outs: ["s.txt"], cmd: "sed 's/$/!/' $SRCS > $OUT/s.txt" });`,
      ``,
    ].join("\n"),
    "d/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const low = cmd({ srcs: ["//a:lower"], outs: ["l.txt"], cmd: "cat $SRCS > $OUT/l.txt" });`,
      ``,
    ].join("\n"),
  };
}

const ALL_CHAIN = ["//a:lower", "//a:upper", "//b:final", "//c:shout", "//d:low"];

describe("incremental rebuilds", () => {
  it("a no-op rebuild executes 0 steps", async () => {
    const f = makeWorkspace(chainFiles());
    const first = await f.build();
    expect(first.code, show(first)).toBe(0);
    expect(first.executed).toEqual(ALL_CHAIN);
    expect(first.summary).toMatchObject({ steps: 5, executed: 5, cached: 0, failed: 0 });
    expect(f.read("kiln-out/c/shout/s.txt")).toBe("HELLO!\nWORLD!\nend!\n");

    const second = await f.build();
    expect(second.code, show(second)).toBe(0);
    expect(second.executed).toEqual([]);
    expect(second.cached).toEqual(ALL_CHAIN);
    expect(second.summary).toMatchObject({ steps: 5, executed: 0, cached: 5, cachedLocal: 5, cachedRemote: 0, failed: 0 });
    for (const step of second.steps) expect(step.cache).toBe("local");
  });

  it("a content change reruns exactly its dependants", async () => {
    const f = makeWorkspace(chainFiles());
    expect((await f.build()).code).toBe(0);
    f.write({ "a/in.txt": "hello\nthere\n" });
    const run = await f.build();
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toEqual(["//a:upper", "//b:final", "//c:shout"]);
    expect(run.cached).toEqual(["//a:lower", "//d:low"]);
    expect(run.summary).toMatchObject({ steps: 5, executed: 3, cached: 2, failed: 0 });
    expect(f.read("kiln-out/c/shout/s.txt")).toBe("HELLO!\nTHERE!\nend!\n");

    // Putting the old content back is a cache hit for every step (the old keys are still stored).
    f.write({ "a/in.txt": "hello\nworld\n" });
    const back = await f.build();
    expect(back.executed).toEqual([]);
    expect(f.read("kiln-out/c/shout/s.txt")).toBe("HELLO!\nWORLD!\nend!\n");
  });

  it("an mtime-only touch executes 0 steps", async () => {
    const f = makeWorkspace(chainFiles());
    expect((await f.build()).code).toBe(0);
    const file = join(f.ws, "a/in.txt");
    const later = new Date(statSync(file).mtimeMs + 3_600_000);
    utimesSync(file, later, later);
    utimesSync(join(f.ws, "a/BUILD.ts"), later, later);
    const run = await f.build();
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toEqual([]);
    expect(run.summary).toMatchObject({ executed: 0, cached: 5 });
  });

  it("early cutoff: a dependant whose input bytes did not change stays cached", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/lines.txt": "one\ntwo\nthree\n",
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const copy = cmd({ srcs: { x: "lines.txt" }, outs: ["a.txt"], cmd: "cp $SRCS $OUT/a.txt" });`,
        `export const count = cmd({ srcs: [":copy"], outs: ["n.txt"], cmd: "wc -l < $SRCS | tr -d ' ' > $OUT/n.txt" });`,
        `export const report = cmd({ srcs: [":count"], outs: ["r.txt"], cmd: "echo lines: $(cat $SRCS) > $OUT/r.txt" });`,
        ``,
      ].join("\n"),
    });
    const first = await f.build();
    expect(first.code, show(first)).toBe(0);
    expect(f.read("kiln-out/p/report/r.txt")).toBe("lines: 3\n");

    f.write({ "p/lines.txt": "one\nTWO, edited\nthree\n" });
    const run = await f.build();
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toEqual(["//p:copy", "//p:count"]);
    expect(run.cached).toEqual(["//p:report"]);
    expect(run.summary).toMatchObject({ steps: 3, executed: 2, cached: 1, failed: 0 });
    expect(f.read("kiln-out/p/copy/a.txt")).toBe("one\nTWO, edited\nthree\n");
    expect(f.read("kiln-out/p/report/r.txt")).toBe("lines: 3\n");
  });

  it("globs: a new matching file reruns the step and is in $SRCS; a non-matching one is not", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "g/data/a.csv": "x\n1\n",
      "g/data/b.csv": "x\n2\n",
      "g/data/notes.txt": "not data\n",
      "g/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const merged = cmd({ srcs: { data: "data/*.csv" }, outs: ["list.txt", "all.txt"], cmd: "echo $SRCS > $OUT/list.txt; cat $SRCS > $OUT/all.txt" });`,
        ``,
      ].join("\n"),
    });
    const first = await f.build();
    expect(first.code, show(first)).toBe(0);
    expect(f.read("kiln-out/g/merged/list.txt")).toBe("g/data/a.csv g/data/b.csv\n");

    f.write({ "g/data/c.csv": "x\n3\n" });
    const run = await f.build();
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toEqual(["//g:merged"]);
    expect(f.read("kiln-out/g/merged/list.txt")).toBe("g/data/a.csv g/data/b.csv g/data/c.csv\n");
    expect(f.read("kiln-out/g/merged/all.txt")).toBe("x\n1\nx\n2\nx\n3\n");

    f.write({ "g/data/more-notes.txt": "still not data\n" });
    const again = await f.build();
    expect(again.code, show(again)).toBe(0);
    expect(again.executed).toEqual([]);
  });
});

describe("step modules", () => {
  function stepFiles(): Record<string, string> {
    return {
      "WORKSPACE.ts": WORKSPACE_TS,
      "m/data.txt": "abc\n",
      "m/notes.txt": "not an input\n",
      "m/unused.ts": "export const unused = 1;\n",
      "m/helper.ts": `export function decorate(s: string): string { return "[" + s.trim() + "]"; }\n`,
      "m/train.ts": [
        `import { readFileSync, writeFileSync } from "node:fs";`,
        `import { decorate } from "./helper.ts";`,
        `export function train(ctx: any) {`,
        `  writeFileSync(ctx.out("model.txt"), decorate(readFileSync(ctx.srcs.d, "utf8")) + "\\n");`,
        `}`,
        ``,
      ].join("\n"),
      "m/other.ts": [
        `import { readFileSync, writeFileSync } from "node:fs";`,
        `export function other(ctx: any) {`,
        `  writeFileSync(ctx.out("o.txt"), readFileSync(ctx.srcs.d, "utf8").toUpperCase());`,
        `}`,
        ``,
      ].join("\n"),
      "m/BUILD.ts": [
        `import { cmd, step } from "kiln";`,
        `export const train = step({ srcs: { d: "data.txt" }, outs: ["model.txt"], run: "./train.ts#train" });`,
        `export const other = step({ srcs: { d: "data.txt" }, outs: ["o.txt"], run: "./other.ts#other" });`,
        `export const evaluate = cmd({ srcs: [":train"], outs: ["e.txt"], cmd: "cat $SRCS > $OUT/e.txt" });`,
        ``,
      ].join("\n"),
    };
  }

  it("editing a helper module reruns the step importing it and its dependants only; non-inputs rerun nothing", async () => {
    const f = makeWorkspace(stepFiles());
    const first = await f.build();
    expect(first.code, show(first)).toBe(0);
    expect(first.executed).toEqual(["//m:evaluate", "//m:other", "//m:train"]);
    expect(f.read("kiln-out/m/evaluate/e.txt")).toBe("[abc]\n");
    expect(f.read("kiln-out/m/other/o.txt")).toBe("ABC\n");

    f.write({ "m/helper.ts": `export function decorate(s: string): string { return "<" + s.trim() + ">"; }\n` });
    const afterHelper = await f.build();
    expect(afterHelper.code, show(afterHelper)).toBe(0);
    expect(afterHelper.executed).toEqual(["//m:evaluate", "//m:train"]);
    expect(afterHelper.cached).toEqual(["//m:other"]);
    expect(f.read("kiln-out/m/evaluate/e.txt")).toBe("<abc>\n");

    f.write({ "m/notes.txt": "edited, still not an input\n", "m/unused.ts": "export const unused = 2;\n" });
    const afterUnrelated = await f.build();
    expect(afterUnrelated.code, show(afterUnrelated)).toBe(0);
    expect(afterUnrelated.executed).toEqual([]);
    expect(afterUnrelated.summary).toMatchObject({ steps: 3, executed: 0, cached: 3 });
  });

  it("a new version of a package a step imports reruns that step, and only it", async () => {
    const pkg = (version: string, word: string) => ({
      "node_modules/shout/package.json": JSON.stringify({ name: "shout", version, type: "module", main: "index.js" }),
      "node_modules/shout/index.js": `export function shout(s) { return s.trim().toUpperCase() + "${word}"; }\n`,
    });
    const f = makeWorkspace({
      ...stepFiles(),
      ...pkg("1.0.0", "!"),
      "m/loud.ts": [
        `import { readFileSync, writeFileSync } from "node:fs";`,
        `import { shout } from "shout";`,
        `export function loud(ctx: any) {`,
        `  writeFileSync(ctx.out("l.txt"), shout(readFileSync(ctx.srcs.d, "utf8")) + "\\n");`,
        `}`,
        ``,
      ].join("\n"),
      "m/BUILD.ts": stepFiles()["m/BUILD.ts"] + `export const loud = step({ srcs: { d: "data.txt" }, outs: ["l.txt"], run: "./loud.ts#loud" });\n`,
    });
    const first = await f.build();
    expect(first.code, show(first)).toBe(0);
    expect(f.read("kiln-out/m/loud/l.txt")).toBe("ABC!\n");
    expect((await f.build()).executed).toEqual([]);

    f.write(pkg("1.1.0", "!!!"));
    const upgraded = await f.build();
    expect(upgraded.code, show(upgraded)).toBe(0);
    expect(upgraded.executed).toEqual(["//m:loud"]);
    expect(f.read("kiln-out/m/loud/l.txt")).toBe("ABC!!!\n");
    expect((await f.build()).executed).toEqual([]);
  });
});

describe("keys", () => {
  it("are location-independent: same fixture, different paths and caches, same keys", async () => {
    const files = {
      ...chainFiles(),
      "m/data.txt": "abc\n",
      "m/helper.ts": `export const k = 2;\n`,
      "m/fit.ts": [
        `import { readFileSync, writeFileSync } from "node:fs";`,
        `import { k } from "./helper.ts";`,
        `export function fit(ctx: any) {`,
        `  writeFileSync(ctx.out("m.json"), JSON.stringify({ n: readFileSync(ctx.srcs.d, "utf8").length * k, p: ctx.params }));`,
        `}`,
        ``,
      ].join("\n"),
      "m/BUILD.ts": [
        `import { step } from "kiln";`,
        `export const fit = step({ srcs: { d: "data.txt", up: "//a:upper" }, outs: ["m.json"], run: "./fit.ts#fit", params: { lr: 0.1 } });`,
        ``,
      ].join("\n"),
    };
    const one = makeWorkspace(files);
    const two = makeWorkspace(files);
    expect(one.ws).not.toBe(two.ws);
    const [a, b] = await Promise.all([one.build(), two.build()]);
    expect(a.code, show(a)).toBe(0);
    expect(b.code, show(b)).toBe(0);
    const keys = (run: typeof a) => Object.fromEntries(run.steps.map((s) => [s.label, s.key]));
    expect(Object.keys(keys(a)).sort()).toEqual([...ALL_CHAIN, "//m:fit"].sort());
    for (const step of a.steps) expect(step.key).toMatch(/^[0-9a-f]{64}$/);
    expect(keys(b)).toEqual(keys(a));
    expect(one.read("kiln-out/m/fit/m.json")).toBe(two.read("kiln-out/m/fit/m.json"));
  });
});

describe("step modules saved by another kiln", () => {
  it("are bundled again when their format differs, instead of lending a stale code digest to keys", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": `import { step } from "kiln";\nexport const s = step({ outs: ["o.txt"], run: "./s.ts#run" });\n`,
      "p/s.ts": `import { writeFileSync } from "node:fs";\nexport function run(ctx: { out(n: string): string }) { writeFileSync(ctx.out("o.txt"), "ok\\n"); }\n`,
    });
    expect((await f.build()).executed).toEqual(["//p:s"]);
    const saved = join(f.ws, ".kiln", "step-modules.json");
    const modules = JSON.parse(readFileSync(saved, "utf8")) as { format: number; codeDigest: string }[];
    expect(modules.map((m) => m.format)).toEqual([2]);
    // As an older kiln would have left it: another format, another way of computing the digest.
    writeFileSync(saved, JSON.stringify(modules.map((m) => ({ ...m, format: 1, codeDigest: "digest-of-an-older-kiln" }))));
    const again = await f.build(["--explain"]);
    expect(again.code, show(again)).toBe(0);
    expect(again.executed).toEqual([]);
    expect(again.cached).toEqual(["//p:s"]);
  });
});
