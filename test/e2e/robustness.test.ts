/**
 * The cache and kiln-out survive what real machines do: a `kill -9` mid-build, a corrupted blob,
 * and two builds of the same workspace at once.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, collect, listBlobs, makeTempDir, makeWorkspace, processRunning, readPidFile, removeTree, show, waitFor, WORKSPACE_TS } from "./harness.js";
import { readManifest } from "../../src/exec/sandbox-manifest.js";

afterAll(cleanupTempDirs);

/**
 * `chains` chains of `length` steps in package p: `//p:c<i>_<j>` depends on `//p:c<i>_<j-1>` and
 * appends its own name, so each output's correct content is known.
 */
function chainWorkspace(chains: number, length: number, sleep: string): { files: Record<string, string>; expected: Map<string, string> } {
  const lines = [`import { cmd } from "kiln";`];
  const expected = new Map<string, string>();
  for (let i = 0; i < chains; i++) {
    let content = "";
    for (let j = 0; j < length; j++) {
      const name = `c${i}_${j}`;
      const srcs = j === 0 ? "[]" : `[":c${i}_${j - 1}"]`;
      const body = j === 0 ? `sleep ${sleep}; echo ${name} > $OUT/o.txt` : `sleep ${sleep}; cat $SRCS > $OUT/o.txt; echo ${name} >> $OUT/o.txt`;
      lines.push(`export const ${name} = cmd({ srcs: ${srcs}, outs: ["o.txt"], cmd: "${body}" });`);
      content += `${name}\n`;
      expected.set(name, content);
    }
  }
  return { files: { "WORKSPACE.ts": WORKSPACE_TS, "p/BUILD.ts": `${lines.join("\n")}\n` }, expected };
}

function expectOutputs(ws: string, expected: Map<string, string>): void {
  for (const [name, content] of expected) {
    const file = join(ws, "kiln-out", "p", name, "o.txt");
    expect(readFileSync(file, "utf8"), name).toBe(content);
    expect(statSync(file).mode & 0o222, `${name} is read-only`).toBe(0);
  }
}

describe("crash safety", () => {
  it("kill -9 mid-build, then a rebuild is correct and a third executes nothing", async () => {
    const { files, expected } = chainWorkspace(4, 10, "0.05");
    const f = makeWorkspace(files);
    const child = f.spawnKiln(["build", "--json"]);
    const done = collect(child);
    let sawStep = false;
    child.stdout!.on("data", () => (sawStep = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Make sure the build got past loading and is executing before the kill (slow machines).
    for (let waited = 0; !sawStep && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    child.kill("SIGKILL");
    const killed = await done;
    expect(killed.signal).toBe("SIGKILL");
    const before = killed.stdout.split("\n").filter((line) => line.includes('"status":"executed"')).length;
    expect(before).toBeLessThan(40);

    const rebuild = await f.build();
    expect(rebuild.code, show(rebuild)).toBe(0);
    expect(rebuild.summary.steps).toBe(40);
    expect(rebuild.summary.failed).toBe(0);
    expectOutputs(f.ws, expected);

    const third = await f.build();
    expect(third.code, show(third)).toBe(0);
    expect(third.summary).toMatchObject({ steps: 40, executed: 0, cached: 40 });
    expectOutputs(f.ws, expected);
  });

  it("a corrupted blob is detected, dropped and rebuilt", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const make = cmd({ srcs: [], outs: ["m.txt"], cmd: "echo the-original-bytes > $OUT/m.txt" });`,
        `export const use = cmd({ srcs: [":make"], outs: ["u.txt"], cmd: "tr a-z A-Z < $SRCS > $OUT/u.txt" });`,
        ``,
      ].join("\n"),
    });
    const first = await f.build();
    expect(first.code, show(first)).toBe(0);
    const blobs = listBlobs(f.cache).filter((blob) => readFileSync(blob, "utf8") === "the-original-bytes\n");
    expect(blobs).toHaveLength(1);
    const blob = blobs[0]!;
    expect(blob).toMatch(/\/cas\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
    chmodSync(blob, 0o644);
    writeFileSync(blob, "the-corrupt-bytes!!\n");
    removeTree(join(f.ws, "kiln-out", "p"));

    const run = await f.build();
    expect(run.code, show(run)).toBe(0);
    expect(run.stderr).toMatch(/corrupt/i);
    expect(run.executed).toContain("//p:make");
    expect(f.read("kiln-out/p/make/m.txt")).toBe("the-original-bytes\n");
    expect(f.read("kiln-out/p/use/u.txt")).toBe("THE-ORIGINAL-BYTES\n");

    const again = await f.build();
    expect(again.code, show(again)).toBe(0);
    expect(again.executed).toEqual([]);
    expect(again.stderr).not.toMatch(/corrupt/i);
  });
});

describe("concurrency", () => {
  it("two concurrent builds of one workspace and cache both succeed with correct outputs", async () => {
    const { files, expected } = chainWorkspace(3, 10, "0.02");
    const f = makeWorkspace(files);
    const [one, two] = await Promise.all([f.build(), f.build()]);
    expect(one.code, show(one)).toBe(0);
    expect(two.code, show(two)).toBe(0);
    expect(one.summary).toMatchObject({ steps: 30, failed: 0 });
    expect(two.summary).toMatchObject({ steps: 30, failed: 0 });
    expectOutputs(f.ws, expected);
    // No sandbox in use is left behind once both are done; a parked one holds nothing but what
    // its manifest lists (inputs kept for reuse: links to dependencies' outputs, source copies).
    const sandboxes = join(f.ws, ".kiln", "sandbox");
    let left: string[] = [];
    try {
      left = readdirSync(sandboxes);
    } catch {
      /* no sandbox dir at all is fine */
    }
    expect(left.filter((entry) => entry !== "parked")).toEqual([]);
    for (const parked of readdirSync(join(sandboxes, "parked"))) {
      const dir = join(sandboxes, "parked", parked);
      const manifest = readManifest(dir)!;
      const files = (readdirSync(dir, { recursive: true, withFileTypes: true }) as import("node:fs").Dirent[])
        .filter((entry) => !entry.isDirectory() && !(entry.parentPath === dir && entry.name.startsWith(".kiln-")))
        .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
        .sort();
      expect(files).toEqual([...manifest.links.keys(), ...manifest.spares].sort());
    }

    const third = await f.build();
    expect(third.code, show(third)).toBe(0);
    expect(third.summary).toMatchObject({ steps: 30, executed: 0, cached: 30 });
  });
});

describe("parked sandboxes", () => {
  it("regression: a copied workspace whose parked sandbox lost its manifest is surveyed and builds right", async () => {
    // Copied without its hard links (cpSync), a parked aggregator's links to its inputs are
    // files of one link each: a survey takes them for spare copies. placeLinkedOutput linked over
    // such a spare but left it listed, so removeUnused deleted the link it had just made and the
    // step failed with "missing from the sandbox". (Found copying the 100,000-wide benchmark.)
    const leaves = ["a", "b", "c"];
    const files: Record<string, string> = {
      "WORKSPACE.ts": WORKSPACE_TS,
      "BUILD.ts":
        `import { cmd } from "kiln";\n` +
        leaves.map((leaf) => `export const ${leaf} = cmd({ srcs: { in: ["${leaf}.txt"] }, outs: ["o.txt"], cmd: "cat $SRCS > $OUT/o.txt" });\n`).join("") +
        `export const agg = cmd({ srcs: { in: [${leaves.map((leaf) => `":${leaf}"`).join(", ")}] }, outs: ["all.txt"], cmd: "cat $SRCS > $OUT/all.txt" });\n`,
    };
    for (const leaf of leaves) files[`${leaf}.txt`] = `${leaf}\n`;
    const f = makeWorkspace(files);
    // Every sandbox parked under its own label, as an aggregator's is at scale.
    const env = { KILN_SANDBOX_LEND_UP_TO: "0" };
    const first = await f.build([], { env });
    expect(first.code, show(first)).toBe(0);

    const copy = `${f.ws}-copy`;
    cpSync(f.ws, copy, { recursive: true });
    const parked = join(copy, ".kiln", "sandbox", "parked");
    const manifests = readdirSync(parked).map((entry) => join(parked, entry, ".kiln-sandbox"));
    expect(manifests.length).toBeGreaterThanOrEqual(leaves.length + 1);
    for (const manifest of manifests) rmSync(manifest);
    writeFileSync(join(copy, "b.txt"), "b, edited\n");
    const again = await f.build(["-C", copy], { env, noWorkspaceFlag: true });
    expect(again.code, show(again)).toBe(0);
    expect(again.executed).toEqual(["//:agg", "//:b"]);
    expect(readFileSync(join(copy, "kiln-out", "agg", "all.txt"), "utf8")).toBe("a\nb, edited\nc\n");
  });
});

describe("interrupts", () => {
  it("Ctrl-C stops the running command, parks sandboxes, saves state and exits 130; the next build finishes", async () => {
    const pidFile = join(makeTempDir(), "sleep.pid");
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const fast = cmd({ outs: ["f.txt"], cmd: "echo fast > $OUT/f.txt" });`,
        `export const slow = cmd({ srcs: [":fast"], outs: ["s.txt"], env: ["NAP"], cmd: ${JSON.stringify(`sleep $NAP & echo $! > ${pidFile}; wait; cat $SRCS > $OUT/s.txt`)} });`,
        `export const after = cmd({ srcs: [":slow"], outs: ["a.txt"], cmd: "cat $SRCS > $OUT/a.txt" });`,
        ``,
      ].join("\n"),
    });
    // The directory sandbox: the command writes its pid where the test reads it.
    const child = f.spawnKiln(["build", "--json", "--sandbox", "dir"], { env: { NAP: "30" } });
    const done = collect(child);
    const sleepPid = await readPidFile(pidFile);
    const interruptedAt = Date.now();
    child.kill("SIGINT");
    const run = await done;
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(130);
    expect(Date.now() - interruptedAt).toBeLessThan(5000);
    expect(run.stderr).toContain("interrupted");
    const events = run.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { type: string; label?: string; status?: string });
    expect(events.filter((e) => e.type === "step").map((e) => [e.label, e.status])).toEqual([
      ["//p:fast", "executed"],
      ["//p:slow", "failed"],
    ]);
    // The command's own child is stopped too (allow a moment for it to be reaped).
    expect(await waitFor(() => !processRunning(sleepPid), 3000)).toBe(true);
    expect(readdirSync(join(f.ws, ".kiln", "sandbox")).filter((entry) => entry !== "parked")).toEqual([]);

    const next = await f.build(["--sandbox", "dir"], { env: { NAP: "0" } });
    expect(next.code, show(next)).toBe(0);
    expect(next.executed).toEqual(["//p:after", "//p:slow"]);
    expect(next.cached).toEqual(["//p:fast"]);
    expect(f.read("kiln-out/p/after/a.txt")).toBe("fast\n");
  });

  it("a command that ignores SIGTERM is killed 2 s after Ctrl-C, and kiln exits only once no process of the build is left", async () => {
    const pidFile = join(makeTempDir(), "stubborn.pid");
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const stubborn = cmd({ outs: ["s.txt"], cmd: ${JSON.stringify(`trap '' TERM; sleep 60 & echo $! > ${pidFile}; wait; echo done > $OUT/s.txt`)} });`,
        ``,
      ].join("\n"),
    });
    const child = f.spawnKiln(["build", "--sandbox", "dir"]);
    const done = collect(child);
    const sleepPid = await readPidFile(pidFile);
    const interruptedAt = Date.now();
    child.kill("SIGINT");
    const run = await done;
    const took = Date.now() - interruptedAt;
    expect(run.code, show(run)).toBe(130);
    // SIGTERM was ignored: SIGKILL came after the 2 s grace, and kiln waited for it.
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(6000);
    expect(processRunning(sleepPid), "the command's sleep outlived kiln").toBe(false);
  });

  it.runIf(spawnSync("bwrap", ["--ro-bind", "/", "/", "true"]).status === 0)(
    "in the namespace sandbox too, Ctrl-C leaves no process of the build behind",
    async () => {
      const marker = `61.${process.pid % 1000}`;
      const f = makeWorkspace({
        "WORKSPACE.ts": WORKSPACE_TS,
        "p/BUILD.ts": `import { cmd } from "kiln";\nexport const stubborn = cmd({ outs: ["s.txt"], cmd: "trap '' TERM; sleep ${marker}; echo done > $OUT/s.txt" });\n`,
      });
      const running = () => spawnSync("pgrep", ["-f", `sleep ${marker}`]).stdout.toString().trim().split("\n").filter(Boolean).filter(processRunning);
      const child = f.spawnKiln(["build", "--sandbox", "bwrap"]);
      const done = collect(child);
      expect(await waitFor(() => running().length > 0, 20_000)).toBe(true);
      child.kill("SIGINT");
      const run = await done;
      expect(run.code, show(run)).toBe(130);
      expect(running()).toEqual([]);
    },
  );
});

