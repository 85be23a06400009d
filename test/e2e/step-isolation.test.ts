/**
 * Isolation of `step` functions: from each other (module-level state), from kiln's environment
 * (process.env, /proc/self/environ, the working directory, HOME), and from paths outside their
 * output directory; and a step that ends its own process fails alone.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, collect, makeTempDir, makeWorkspace, processRunning, show, waitFor, WORKSPACE_TS, type StepEvent } from "./harness.js";

afterAll(cleanupTempDirs);

const COUNTER_TS = [
  `import { writeFileSync } from "node:fs";`,
  `let calls = 0;`,
  `export function count(ctx: any): void {`,
  `  calls++;`,
  `  writeFileSync(ctx.out("calls.txt"), \`\${ctx.label} \${calls}\\n\`);`,
  `}`,
  ``,
].join("\n");

const COUNTER_BUILD = [
  `import { step } from "kiln";`,
  `export const a = step({ outs: ["calls.txt"], run: "./counter.ts#count" });`,
  `export const b = step({ outs: ["calls.txt"], run: "./counter.ts#count" });`,
  ``,
].join("\n");

describe("step isolation", () => {
  it("two labels sharing a module with module-level state build as each does alone", async () => {
    const alone = async (label: string) => {
      const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "p/counter.ts": COUNTER_TS, "p/BUILD.ts": COUNTER_BUILD });
      const run = await f.build(["-j1", label]);
      expect(run.code, show(run)).toBe(0);
      return f.read(`kiln-out/p/${label.slice(label.indexOf(":") + 1)}/calls.txt`);
    };
    const expected = { a: await alone("//p:a"), b: await alone("//p:b") };
    expect(expected).toEqual({ a: "//p:a 1\n", b: "//p:b 1\n" });

    const both = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "p/counter.ts": COUNTER_TS, "p/BUILD.ts": COUNTER_BUILD });
    const run = await both.build(["-j1", "//p:a", "//p:b"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toEqual(["//p:a", "//p:b"]);
    expect({ a: both.read("kiln-out/p/a/calls.txt"), b: both.read("kiln-out/p/b/calls.txt") }).toEqual(expected);
  });

  it("a step sees none of kiln's environment, runs in its own sandbox, and sees its declared env", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/in.txt": "declared\n",
      "p/probe.ts": [
        `import { readFileSync, writeFileSync } from "node:fs";`,
        `export function probe(ctx: any): void {`,
        `  const environ = readFileSync("/proc/self/environ", "utf8");`,
        `  writeFileSync(ctx.out("probe.json"), JSON.stringify({`,
        `    secret: process.env.FOO_SECRET ?? null,`,
        `    env: process.env,`,
        `    cwd: process.cwd(),`,
        `    environ: environ.split("\\0").filter((entry) => entry.length > 0),`,
        `    input: ctx.srcs.x,`,
        `    out: ctx.out("probe.json"),`,
        `  }));`,
        `}`,
        ``,
      ].join("\n"),
      "p/BUILD.ts": [
        `import { step } from "kiln";`,
        `export const plain = step({ srcs: { x: "in.txt" }, outs: ["probe.json"], run: "./probe.ts#probe" });`,
        `export const declared = step({ srcs: { x: "in.txt" }, outs: ["probe.json"], run: "./probe.ts#probe", env: { MODE: "a" } });`,
        `export const passed = step({ srcs: { x: "in.txt" }, outs: ["probe.json"], run: "./probe.ts#probe", env: ["KILN_E2E_PASSED"] });`,
        ``,
      ].join("\n"),
    });
    const callerCwd = makeTempDir("kiln-e2e-caller-");
    const env = { FOO_SECRET: "hunter2-secret", HOME: "/kiln-e2e-home", KILN_E2E_PASSED: "passed-value" };
    const run = await f.build([], { env, cwd: callerCwd });
    expect(run.code, show(run)).toBe(0);

    type Probe = { secret: string | null; env: Record<string, string>; cwd: string; environ: string[]; input: string; out: string };
    const probe = (name: string) => JSON.parse(f.read(`kiln-out/p/${name}/probe.json`)) as Probe;
    for (const name of ["plain", "declared", "passed"]) {
      const text = f.read(`kiln-out/p/${name}/probe.json`);
      expect(text).not.toContain("hunter2-secret");
      expect(text).not.toContain("/kiln-e2e-home");
      const p = probe(name);
      expect(p.secret).toBeNull();
      expect(p.environ.filter((entry) => entry.startsWith("FOO_SECRET") || entry.startsWith("HOME="))).toEqual([]);
      // The working directory is the step's own sandbox: its inputs and output are below it.
      expect(p.cwd).not.toBe(f.ws);
      expect(p.cwd).not.toBe(callerCwd);
      expect(p.cwd.startsWith(`${f.ws}/.kiln/`), p.cwd).toBe(true);
      expect(p.input).toBe(`${p.cwd}/p/in.txt`);
      expect(p.out).toBe(`${p.cwd}/kiln-out/p/${name}/probe.json`);
      expect(p.env.HOME!.startsWith(`${p.cwd}/`), p.env.HOME).toBe(true);
      expect(p.env.TMPDIR!.startsWith(`${p.cwd}/`), p.env.TMPDIR).toBe(true);
      expect(p.env.PATH).toBe("/usr/local/bin:/usr/bin:/bin");
    }
    expect(Object.keys(probe("plain").env).sort()).toEqual(["HOME", "LANG", "PATH", "TMPDIR"]);
    expect(probe("declared").env.MODE).toBe("a");
    expect(Object.keys(probe("declared").env).sort()).toEqual(["HOME", "LANG", "MODE", "PATH", "TMPDIR"]);
    expect(probe("passed").env.KILN_E2E_PASSED).toBe("passed-value");

    // The secret is not an input of the key: another value changes nothing, and nothing reruns.
    const before = f.read("kiln-out/p/plain/probe.json");
    const again = await f.build([], { env: { ...env, FOO_SECRET: "other-secret" }, cwd: callerCwd });
    expect(again.code, show(again)).toBe(0);
    expect(again.summary.executed).toBe(0);
    expect(f.read("kiln-out/p/plain/probe.json")).toBe(before);
  });

  it("ctx.out refuses absolute paths and '..', naming the label", async () => {
    const outside = `/tmp/kiln-e2e-escape-${process.pid}-${Date.now()}`;
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/escape.ts": [
        `import { writeFileSync } from "node:fs";`,
        `export function up(ctx: any): void { writeFileSync(ctx.out("../x"), "x"); writeFileSync(ctx.out("o.txt"), "o"); }`,
        `export function nested(ctx: any): void { writeFileSync(ctx.out("sub/../../x"), "x"); writeFileSync(ctx.out("o.txt"), "o"); }`,
        `export function absolute(ctx: any): void { writeFileSync(ctx.out(${JSON.stringify(outside)}), "x"); writeFileSync(ctx.out("o.txt"), "o"); }`,
        `export function fine(ctx: any): void { writeFileSync(ctx.out("sub/o.txt"), "o"); }`,
        ``,
      ].join("\n"),
      "p/BUILD.ts": [
        `import { step } from "kiln";`,
        `export const up = step({ outs: ["o.txt"], run: "./escape.ts#up" });`,
        `export const nested = step({ outs: ["o.txt"], run: "./escape.ts#nested" });`,
        `export const absolute = step({ outs: ["o.txt"], run: "./escape.ts#absolute" });`,
        `export const fine = step({ outs: ["sub/o.txt"], run: "./escape.ts#fine" });`,
        ``,
      ].join("\n"),
    });
    const run = await f.build(["-k"]);
    expect(run.code, show(run)).toBe(1);
    expect(run.failed).toEqual(["//p:absolute", "//p:nested", "//p:up"]);
    expect(run.executed).toEqual(["//p:fine"]);
    expect(run.stderr).toMatch(/\/\/p:up: ctx\.out\("\.\.\/x"\) is outside the step's output directory/);
    expect(run.stderr).toMatch(/\/\/p:nested: ctx\.out\("sub\/\.\.\/\.\.\/x"\) is outside/);
    expect(run.stderr).toContain(`//p:absolute: ctx.out(${JSON.stringify(outside)}) is outside`);
    expect(existsSync(outside)).toBe(false);
  });

  it("a step that ends its process fails alone, naming its label; the build goes on", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/steps.ts": [
        `import { writeFileSync } from "node:fs";`,
        `export function exits(ctx: any): void { process.exit(3); }`,
        `export async function throwsLater(ctx: any): Promise<void> {`,
        `  setTimeout(() => { throw new Error("boom in a callback"); }, 0);`,
        `  await new Promise((resolve) => setTimeout(resolve, 200));`,
        `  writeFileSync(ctx.out("o.txt"), "o");`,
        `}`,
        `export function fine(ctx: any): void { writeFileSync(ctx.out("o.txt"), String(process.pid)); }`,
        ``,
      ].join("\n"),
      "p/BUILD.ts": [
        `import { step } from "kiln";`,
        // Dependants give exits and throwsLater the longer paths, so with -j1 they run first.
        `export const exits = step({ outs: ["o.txt"], run: "./steps.ts#exits" });`,
        `export const afterExits = step({ srcs: { x: ":exits" }, outs: ["o.txt"], run: "./steps.ts#fine" });`,
        `export const throwsLater = step({ outs: ["o.txt"], run: "./steps.ts#throwsLater" });`,
        `export const afterThrows = step({ srcs: { x: ":throwsLater" }, outs: ["o.txt"], run: "./steps.ts#fine" });`,
        `export const later = step({ outs: ["o.txt"], run: "./steps.ts#fine" });`,
        ``,
      ].join("\n"),
    });
    const run = await f.build(["-k", "-j1"]);
    expect(run.code, show(run)).toBe(1);
    expect(run.failed).toEqual(["//p:exits", "//p:throwsLater"]);
    expect(run.executed).toEqual(["//p:later"]);
    const order = run.steps.map((s: StepEvent) => s.label);
    expect(order.indexOf("//p:later")).toBeGreaterThan(order.indexOf("//p:exits"));
    expect(order.indexOf("//p:later")).toBeGreaterThan(order.indexOf("//p:throwsLater"));
    expect(run.stderr).toMatch(/the process running \/\/p:exits exited with code 3 before the step finished/);
    expect(run.stderr).toContain("//p:throwsLater: an exception escaped the step's awaited code");
    expect(run.stderr).toContain("boom in a callback");
  });

  it("runners are reused, but not after a step that left a timer running", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/pid.ts": [
        `import { writeFileSync } from "node:fs";`,
        `export function pid(ctx: any): void { writeFileSync(ctx.out("pid.txt"), String(process.pid)); }`,
        `export function leaky(ctx: any): void { setInterval(() => {}, 1000); pid(ctx); }`,
        ``,
      ].join("\n"),
      "p/BUILD.ts": [
        `import { step } from "kiln";`,
        `export const first = step({ outs: ["pid.txt"], run: "./pid.ts#pid" });`,
        `export const second = step({ srcs: { x: ":first" }, outs: ["pid.txt"], run: "./pid.ts#pid" });`,
        `export const leaky = step({ srcs: { x: ":second" }, outs: ["pid.txt"], run: "./pid.ts#leaky" });`,
        `export const fourth = step({ srcs: { x: ":leaky" }, outs: ["pid.txt"], run: "./pid.ts#pid" });`,
        ``,
      ].join("\n"),
    });
    const run = await f.build(["-j1"]);
    expect(run.code, show(run)).toBe(0);
    const pid = (name: string) => Number(f.read(`kiln-out/p/${name}/pid.txt`));
    expect(pid("second")).toBe(pid("first"));
    expect(pid("leaky")).toBe(pid("first"));
    expect(pid("fourth")).not.toBe(pid("leaky"));
  });

  it("Ctrl-C stops a running step's process, even one that ignores SIGTERM, and leaves none behind", async () => {
    const pidFile = join(makeTempDir(), "runner.pid");
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/stubborn.ts": [
        `import { writeFileSync } from "node:fs";`,
        `export function stubborn(ctx: any): void {`,
        `  process.on("SIGTERM", () => {});`,
        `  writeFileSync(ctx.params.pidFile, String(process.pid));`,
        `  for (;;) {}`,
        `}`,
        ``,
      ].join("\n"),
      "p/BUILD.ts": [
        `import { step } from "kiln";`,
        `export const stubborn = step({ outs: ["o.txt"], run: "./stubborn.ts#stubborn", params: { pidFile: ${JSON.stringify(pidFile)} } });`,
        ``,
      ].join("\n"),
    });
    const child = f.spawnKiln(["build", "--json"]);
    const done = collect(child);
    for (let waited = 0; !existsSync(pidFile) && waited < 20_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 100)); // the pid is written
    const runnerPid = Number(readFileSync(pidFile, "utf8"));
    expect(runnerPid).not.toBe(child.pid);
    const interruptedAt = Date.now();
    child.kill("SIGINT");
    const run = await done;
    expect(run.code, show(run)).toBe(130);
    expect(Date.now() - interruptedAt).toBeLessThan(5000);
    expect(run.stderr).toContain("//p:stubborn: interrupted by SIGINT");
    expect(await waitFor(() => !processRunning(runnerPid), 3000)).toBe(true);
  });
});
