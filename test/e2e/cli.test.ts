/**
 * The CLI surface: query output, the shape of `--json` and plain output, and `clean`.
 */
import { spawn } from "node:child_process";
import { existsSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, collect, KILN_BIN, makeTempDir, makeWorkspace, parseJsonRun, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const SUMMARY_LINE = /^kiln: \d+ steps, \d+ executed, \d+ cached \(\d+ local, \d+ remote\), \d+ failed in [\d.]+s$/m;

/** a:upper <- in.txt; a:count <- a:upper; a:other; b:final <- a:count; b:side <- a:other (b:side also logs). */
function files(): Record<string, string> {
  return {
    "WORKSPACE.ts": WORKSPACE_TS,
    "a/in.txt": "abc\n",
    "a/count.ts": [
      `import { readFileSync, writeFileSync } from "node:fs";`,
      `export function count(ctx: any) {`,
      `  const text = readFileSync(ctx.srcs.up, "utf8");`,
      `  ctx.log("counting", text.length);`,
      `  console.log("console.log from a step");`,
      `  console.error("console.error from a step");`,
      `  writeFileSync(ctx.out("n.json"), JSON.stringify({ n: text.length }));`,
      `}`,
      ``,
    ].join("\n"),
    "a/BUILD.ts": [
      `import { cmd, step } from "kiln";`,
      `export const upper = cmd({ srcs: { x: "in.txt" }, outs: ["up.txt"], cmd: "tr a-z A-Z < $SRCS > $OUT/up.txt" });`,
      `export const count = step({ srcs: { up: ":upper" }, outs: ["n.json"], run: "./count.ts#count" });`,
      `export const other = cmd({ srcs: [], outs: ["o.txt"], cmd: "echo other > $OUT/o.txt" });`,
      ``,
    ].join("\n"),
    "b/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const final = cmd({ srcs: ["//a:count"], outs: ["f.txt"], cmd: "cat $SRCS > $OUT/f.txt" });`,
      `export const side = cmd({ srcs: ["//a:other"], outs: ["s.txt"], cmd: "echo to-stdout; echo to-stderr >&2; cat $SRCS > $OUT/s.txt" });`,
      ``,
    ].join("\n"),
  };
}

describe("kiln query", () => {
  it("//... lists every label, sorted, one a line", async () => {
    const f = makeWorkspace(files());
    const run = await f.kiln(["query", "//..."]);
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toBe("//a:count\n//a:other\n//a:upper\n//b:final\n//b:side\n");
    const pkg = await f.kiln(["query", "//b:all"]);
    expect(pkg.stdout).toBe("//b:final\n//b:side\n");
  });

  it("deps and rdeps give exact answers", async () => {
    const f = makeWorkspace(files());
    const deps = await f.kiln(["query", "deps(//b:final)"]);
    expect(deps.code, show(deps)).toBe(0);
    expect(deps.stdout).toBe("//a:count\n//a:upper\n//b:final\n");
    const rdeps = await f.kiln(["query", "rdeps(//..., //a:upper)"]);
    expect(rdeps.code, show(rdeps)).toBe(0);
    expect(rdeps.stdout).toBe("//a:count\n//a:upper\n//b:final\n");
    const kind = await f.kiln(["query", "kind(step, //...)"]);
    expect(kind.code, show(kind)).toBe(0);
    expect(kind.stdout).toBe("//a:count\n");
  });

  it("an unknown label in a query is exit 2 with a suggestion", async () => {
    const f = makeWorkspace(files());
    const run = await f.kiln(["query", "deps(//b:fnal)"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain("//b:final");
  });
});

describe("build output", () => {
  it("--json stdout holds only JSON lines, even when steps print", async () => {
    const f = makeWorkspace(files());
    const run = await f.build();
    expect(run.code, show(run)).toBe(0);
    for (const line of run.stdout.split("\n").filter(Boolean)) expect(() => JSON.parse(line), line).not.toThrow();
    expect(run.stdout).not.toContain("console.log from a step");
    expect(run.stdout).not.toContain("to-stdout");
    expect(run.steps.map((s) => s.label).sort()).toEqual(["//a:count", "//a:other", "//a:upper", "//b:final", "//b:side"]);
    for (const step of run.steps) {
      expect(Object.keys(step).sort()).toEqual(["cache", "key", "label", "ms", "status", "type"]);
      expect(step.status).toBe("executed");
      expect(step.cache).toBeNull();
    }
    expect(Object.keys(run.summary).sort()).toEqual(["cached", "cachedLocal", "cachedRemote", "executed", "failed", "ms", "steps", "type"]);
    expect(run.summary).toMatchObject({ steps: 5, executed: 5, cached: 0, cachedLocal: 0, cachedRemote: 0, failed: 0 });

    const failing = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": `import { cmd } from "kiln";\nexport const bad = cmd({ srcs: [], outs: ["b.txt"], cmd: "echo out; echo boom >&2; exit 3" });\n`,
    });
    const failed = await failing.build();
    expect(failed.code, show(failed)).toBe(1);
    expect(failed.steps).toEqual([expect.objectContaining({ type: "step", label: "//p:bad", status: "failed" })]);
    expect(failed.summary).toMatchObject({ steps: 1, executed: 0, failed: 1 });
    expect(failed.stderr).toContain("boom");
  });

  it("plain output to a pipe has the summary line", async () => {
    const f = makeWorkspace(files());
    const run = await f.kiln(["build"]);
    expect(run.code, show(run)).toBe(0);
    const all = `${run.stdout}${run.stderr}`;
    expect(all).toMatch(SUMMARY_LINE);
    expect(all.match(new RegExp(SUMMARY_LINE.source, "gm"))).toHaveLength(1);
    expect(all).toMatch(/^kiln: 5 steps, 5 executed, 0 cached \(0 local, 0 remote\), 0 failed in [\d.]+s$/m);
    const again = await f.kiln(["build"]);
    expect(`${again.stdout}${again.stderr}`).toMatch(/^kiln: 5 steps, 0 executed, 5 cached \(5 local, 0 remote\), 0 failed in [\d.]+s$/m);
  });

  it("plain output ends with the summary line (DESIGN: 'both end with one summary line')", async () => {
    const f = makeWorkspace(files());
    const run = await f.kiln(["build", "//b:final"]);
    expect(run.code, show(run)).toBe(0);
    const lastStdoutLine = run.stdout.trimEnd().split("\n").at(-1) ?? "";
    expect(lastStdoutLine).toMatch(SUMMARY_LINE);
  });
});

describe("the working directory", () => {
  it("finds the workspace upward and resolves `:name` in the current package (kiln --help: ':classifier   in the current package')", async () => {
    const f = makeWorkspace(files());
    const run = parseJsonRun(await f.kiln(["build", "--json", ":upper"], { cwd: join(f.ws, "a"), noWorkspaceFlag: true }));
    expect(run.code, show(run)).toBe(0);
    expect(run.steps.map((s) => s.label)).toEqual(["//a:upper"]);
    expect(f.read("kiln-out/a/upper/up.txt")).toBe("ABC\n");
  });
});

describe("kiln clean", () => {
  it("removes kiln-out and keeps the cache", async () => {
    const f = makeWorkspace(files());
    const built = await f.build();
    expect(built.code, show(built)).toBe(0);
    expect(existsSync(join(f.ws, "kiln-out", "b", "final", "f.txt"))).toBe(true);
    const run = await f.kiln(["clean"]);
    expect(run.code, show(run)).toBe(0);
    expect(existsSync(join(f.ws, "kiln-out"))).toBe(false);
    expect(existsSync(join(f.ws, "a", "in.txt"))).toBe(true);
    // The cache survives: the rebuild restores everything without executing.
    const rebuilt = await f.build();
    expect(rebuilt.code, show(rebuilt)).toBe(0);
    expect(rebuilt.summary).toMatchObject({ steps: 5, executed: 0, cached: 5 });
    expect(f.read("kiln-out/b/final/f.txt")).toBe('{"n":4}');

    const all = await f.kiln(["clean", "--cache"]);
    expect(all.code, show(all)).toBe(0);
    expect(existsSync(join(f.ws, "kiln-out"))).toBe(false);
    expect(existsSync(join(f.cache, "index.lmdb"))).toBe(false);
    const fresh = parseJsonRun(await f.kiln(["build", "--json"]));
    expect(fresh.summary).toMatchObject({ steps: 5, executed: 5, cached: 0 });
  });
});

describe("the launcher (bin/kiln.cjs)", () => {
  it("runs through a symlink, as npm's node_modules/.bin/kiln, and hands NODE_EXTRA_CA_CERTS on to steps unchanged", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const env = cmd({ outs: ["env.txt"], env: ["NODE_EXTRA_CA_CERTS", "KILN_EXTRA_CA_CERTS"], cmd: "echo \\"ca=$NODE_EXTRA_CA_CERTS kiln=$KILN_EXTRA_CA_CERTS\\" > $OUT/env.txt" });`,
        ``,
      ].join("\n"),
    });
    const bin = join(makeTempDir("kiln-bin-"), "kiln");
    symlinkSync(KILN_BIN, bin);
    // The launcher hides the variable from Node's start (it parses the file then); a missing
    // file would make Node warn, so the absence of a warning also shows it was hidden.
    const caFile = join(f.ws, "no-such-ca.pem");
    const env = { ...process.env, KILN_CACHE_DIR: f.cache, NODE_EXTRA_CA_CERTS: caFile, NO_COLOR: "1" };
    const build = () => collect(spawn(bin, ["build", "-C", f.ws], { cwd: f.ws, env, stdio: ["ignore", "pipe", "pipe"] }));
    const run = await build();
    expect(run.code, show(run)).toBe(0);
    expect(f.read("kiln-out/p/env/env.txt")).toBe(`ca=${caFile} kiln=\n`);
    expect(run.stderr).not.toContain("Warning");
    // The no-op fast path sees the same value, so the recorded env still matches.
    const again = await build();
    expect(again.code, show(again)).toBe(0);
    expect(again.stdout).toMatch(/0 executed, 1 cached/);
  });
});
