/**
 * The no-op fast path (src/state/up-to-date-stamp.ts) must never answer "up to date" when
 * something the result depends on changed. Each test changes one thing after a recorded build.
 */
import { existsSync, readdirSync, rmSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace } from "./harness.js";

afterAll(cleanupTempDirs);

const files = {
  "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "fast" });\n`,
  "a/data/one.csv": "1\n",
  "a/BUILD.ts": [
    `import { cmd } from "kiln";`,
    `export const joined = cmd({ srcs: ["data/*.csv"], outs: ["all.txt"], cmd: "cat $SRCS > $OUT/all.txt" });`,
    `export const greeting = cmd({ outs: ["hi.txt"], cmd: "echo $GREETING > $OUT/hi.txt", env: ["GREETING"] });`,
  ].join("\n"),
};

function stamps(ws: string): string[] {
  const dir = join(ws, ".kiln", "up-to-date");
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe("the up-to-date fast path", () => {
  it("answers a repeated request with the same events as a full build", async () => {
    const fx = makeWorkspace(files);
    const first = await fx.build([], { env: { GREETING: "hello" } });
    expect(first.summary.executed).toBe(2);
    expect(stamps(fx.ws)).toHaveLength(1);
    const second = await fx.build([], { env: { GREETING: "hello" } });
    expect(second.summary).toMatchObject({ steps: 2, executed: 0, cached: 2 });
    expect(second.steps.map((s) => [s.label, s.key]).sort()).toEqual(first.steps.map((s) => [s.label, s.key]).sort());
  });

  it("restores a deleted output, reruns on a new glob match and on a changed env value", async () => {
    const fx = makeWorkspace(files);
    const env = { GREETING: "hello" };
    await fx.build([], { env });
    await fx.build([], { env });

    rmSync(fx.out("a", "joined", "all.txt"), { force: true });
    const restored = await fx.build([], { env });
    expect(restored.summary.executed).toBe(0);
    expect(fx.read("kiln-out/a/joined/all.txt")).toBe("1\n");

    fx.write({ "a/data/two.csv": "2\n" });
    const globbed = await fx.build([], { env });
    expect(globbed.executed).toEqual(["//a:joined"]);
    expect(fx.read("kiln-out/a/joined/all.txt")).toBe("1\n2\n");

    const changedEnv = await fx.build([], { env: { GREETING: "bonjour" } });
    expect(changedEnv.executed).toEqual(["//a:greeting"]);
    expect(fx.read("kiln-out/a/greeting/hi.txt")).toBe("bonjour\n");
  });

  it("forgives a touch: re-hashes the file, answers up to date and updates the stamp", async () => {
    const fx = makeWorkspace(files);
    const env = { GREETING: "hello" };
    await fx.build([], { env });
    const [stamp] = stamps(fx.ws);
    const stampPath = join(fx.ws, ".kiln", "up-to-date", stamp!);
    const before = statSync(stampPath).mtimeMs;
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(fx.ws, "a/data/one.csv"), later, later);
    const touched = await fx.build([], { env });
    expect(touched.summary).toMatchObject({ executed: 0, cached: 2 });
    expect(statSync(stampPath).mtimeMs).toBeGreaterThan(before);
    // A real edit after the touch is still seen.
    fx.write({ "a/data/one.csv": "one\n" });
    expect((await fx.build([], { env })).executed).toEqual(["//a:joined"]);
  });

  it("records nothing for a closure with declared tools (their version is not known by stat)", async () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": files["WORKSPACE.ts"],
      "t/BUILD.ts": `import { cmd } from "kiln";\nexport const v = cmd({ outs: ["v.txt"], tools: ["sh"], cmd: "echo ok > $OUT/v.txt" });\n`,
    });
    expect((await fx.build()).summary.executed).toBe(1);
    expect(stamps(fx.ws)).toEqual([]);
    expect((await fx.build()).summary.cached).toBe(1);
  });

  it("is skipped by --explain and --no-cache", async () => {
    const fx = makeWorkspace(files);
    const env = { GREETING: "hello" };
    await fx.build([], { env });
    const noCache = await fx.build(["--no-cache"], { env });
    expect(noCache.summary.executed).toBe(2);
  });
});
