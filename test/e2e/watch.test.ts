/**
 * `kiln watch` end to end: the real CLI as a child process on fixture workspaces, edited as a
 * user's editor and git would, each settled state checked against the files it must produce.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeTempDir, makeWorkspace, processRunning, readPidFile, waitFor, WORKSPACE_TS } from "./harness.js";
import { settle, startWatch } from "./watch-harness.js";
import { spawnSync } from "node:child_process";
import { readManifest } from "../../src/exec/sandbox-manifest.js";

afterAll(cleanupTempDirs);

const unshareWorks = spawnSync("unshare", [...(process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"]), "--mount", "--net", "--pid", "--fork", "true"]).status === 0;

const chain = (extra = "") => ({
  "WORKSPACE.ts": WORKSPACE_TS,
  "p/BUILD.ts": [
    `import { cmd } from "kiln";`,
    `export const a = cmd({ srcs: { s: "in.txt" }, outs: ["a.txt"], cmd: "tr a-z A-Z < p/in.txt > $OUT/a.txt" });`,
    `export const b = cmd({ srcs: { a: ":a" }, outs: ["b.txt"], cmd: "cat kiln-out/p/a/a.txt kiln-out/p/a/a.txt > $OUT/b.txt" });`,
    `export const other = cmd({ srcs: { s: "other.txt" }, outs: ["o.txt"], cmd: "cp p/other.txt $OUT/o.txt" });`,
    extra,
  ].join("\n"),
  "p/in.txt": "hello\n",
  "p/other.txt": "other\n",
});

describe("kiln watch", () => {
  it("rebuilds exactly the dependants of an edited source, ignores its own outputs, and exits 0 on Ctrl-C", async () => {
    const f = makeWorkspace(chain());
    const w = startWatch(f, ["//p:b", "//p:other"]);
    const first = await w.rebuild(1);
    expect(first.executed).toEqual(["//p:a", "//p:b", "//p:other"]);
    // Placing outputs in kiln-out must not trigger anything.
    await settle(800);
    expect(w.rebuilds).toHaveLength(1);

    f.write({ "p/in.txt": "world\n" });
    const second = await w.rebuild(2);
    expect(second.executed).toEqual(["//p:a", "//p:b"]);
    expect(second.cached).toEqual(["//p:other"]);
    expect(f.read("kiln-out/p/b/b.txt")).toBe("WORLD\nWORLD\n");
    expect(w.stderr()).toContain("p/in.txt changed; rebuilding");

    // The same bytes again: events, but content decides: no rebuild at all.
    f.write({ "p/in.txt": "world\n" });
    await settle(800);
    expect(w.rebuilds).toHaveLength(2);
    // A save caught mid-write: one event reads the truncated file, the next the same bytes as
    // before. Nothing changed between the builds, so nothing is rebuilt.
    f.write({ "p/in.txt": "" });
    await settle(5);
    f.write({ "p/in.txt": "world\n" });
    await settle(800);
    expect(w.rebuilds).toHaveLength(2);

    expect(await w.stop()).toEqual({ code: 0, signal: null });
  });

  it("--poll sees changes where inotify is not used", async () => {
    const f = makeWorkspace(chain());
    const w = startWatch(f, ["--poll", "//p:b"]);
    await w.rebuild(1);
    f.write({ "p/in.txt": "polled\n" });
    const second = await w.rebuild(2);
    expect(second.executed).toEqual(["//p:a", "//p:b"]);
    expect(f.read("kiln-out/p/b/b.txt")).toBe("POLLED\nPOLLED\n");
    expect((await w.stop()).code).toBe(0);
  });

  it("a BUILD.ts edit reruns only the target it changed; a new file matching a glob is picked up", async () => {
    const f = makeWorkspace({
      ...chain(`export const csvs = cmd({ srcs: { d: "data/*.csv" }, outs: ["n.txt"], cmd: "cat $SRCS > $OUT/n.txt" });`),
      "p/data/1.csv": "one\n",
    });
    const w = startWatch(f, ["//p:csvs", "//p:other", "//p:b"]);
    await w.rebuild(1);
    f.write({ "p/BUILD.ts": chain(`export const csvs = cmd({ srcs: { d: "data/*.csv" }, outs: ["n.txt"], cmd: "cat $SRCS $SRCS > $OUT/n.txt" });`)["p/BUILD.ts"] });
    const edited = await w.rebuild(2);
    expect(edited.executed).toEqual(["//p:csvs"]);
    expect(f.read("kiln-out/p/csvs/n.txt")).toBe("one\none\n");

    f.write({ "p/data/2.csv": "two\n" });
    const added = await w.rebuild(3);
    expect(added.executed).toEqual(["//p:csvs"]);
    expect(f.read("kiln-out/p/csvs/n.txt")).toBe("one\ntwo\none\ntwo\n");
    expect((await w.stop()).code).toBe(0);
  });

  it("a failing step and a BUILD.ts that does not compile are shown, and fixing them rebuilds", async () => {
    const f = makeWorkspace(chain());
    const w = startWatch(f, ["//p:b"]);
    await w.rebuild(1);
    const good = f.read("p/BUILD.ts");
    f.write({ "p/BUILD.ts": good.replace("tr a-z A-Z < p/in.txt", "exit 3; tr a-z A-Z < p/in.txt") });
    const broken = await w.rebuild(2);
    expect(broken.failed).toEqual(["//p:a"]);
    expect(w.stderr()).toContain("exited with code 3");

    f.write({ "p/BUILD.ts": `${good}\nexport const oops = cmd({ outs: [`, "p/in.txt": "fixed\n" });
    await w.stderrMatches(/kiln: error: .*p\/BUILD\.ts/s);
    f.write({ "p/BUILD.ts": good });
    const fixed = await w.rebuild(3);
    expect(fixed.failed).toEqual([]);
    expect(f.read("kiln-out/p/b/b.txt")).toBe("FIXED\nFIXED\n");
    expect((await w.stop()).code).toBe(0);
  });

  it("an editor's save by rename is seen, and keeps being seen; 200 writes at once are one or two rebuilds", async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 200; i++) many[`p/many/${i}.txt`] = `${i}\n`;
    const f = makeWorkspace({
      ...chain(`export const count = cmd({ srcs: { d: "many/*.txt" }, outs: ["n.txt"], cmd: "cat $SRCS | wc -l > $OUT/n.txt; cat $SRCS | sort -n | tail -1 >> $OUT/n.txt" });`),
      ...many,
    });
    const w = startWatch(f, ["//p:b", "//p:count"]);
    await w.rebuild(1);
    for (const [n, text] of [[2, "saved\n"], [3, "again\n"]] as const) {
      const temp = join(f.ws, "p", ".in.txt.swp");
      writeFileSync(temp, text);
      renameSync(temp, join(f.ws, "p/in.txt"));
      await w.rebuild(n);
      expect(f.read("kiln-out/p/a/a.txt")).toBe(text.toUpperCase());
    }
    const before = w.rebuilds.length;
    for (let i = 0; i < 200; i++) writeFileSync(join(f.ws, `p/many/${i}.txt`), `${i + 1000}\n`);
    await w.rebuild(before + 1);
    await settle(1000);
    const burst = w.rebuilds.slice(before);
    expect(burst.length).toBeGreaterThanOrEqual(1);
    expect(burst.length).toBeLessThanOrEqual(2);
    expect(f.read("kiln-out/p/count/n.txt").split(/\s+/).filter(Boolean)).toEqual(["200", "1199"]);
    expect((await w.stop()).code).toBe(0);
  });

  it("a change during a long step cancels it, not its unaffected neighbour, and the settled outputs are a clean build's", async () => {
    const pids = makeTempDir();
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const slow = cmd({ srcs: { s: "x.txt", nap: "nap.txt" }, outs: ["x.out"], cmd: ${JSON.stringify(`sleep $(cat p/nap.txt) & echo $! > ${pids}/x.pid; wait; cp p/x.txt $OUT/x.out`)} });`,
        `export const steady = cmd({ srcs: { s: "y.txt" }, outs: ["y.out"], cmd: "sleep 2; cp p/y.txt $OUT/y.out" });`,
        ``,
      ].join("\n"),
      "p/x.txt": "x1\n",
      "p/nap.txt": "0\n",
      "p/y.txt": "y1\n",
    });
    // The directory sandbox: the command writes its pid where the test reads it.
    const w = startWatch(f, ["--sandbox", "dir", "//p:slow", "//p:steady"]);
    await w.rebuild(1);
    rmSync(join(pids, "x.pid"));
    // Both steps run again: slow for 30 s, steady for 2 s.
    f.write({ "p/nap.txt": "30\n", "p/y.txt": "y2\n" });
    const sleepPid = await readPidFile(join(pids, "x.pid"));
    const changedAt = Date.now();
    // Obsoletes slow only (and makes its next run quick).
    f.write({ "p/x.txt": "x2\n", "p/nap.txt": "0\n" });
    const second = await w.rebuild(2);
    expect(Date.now() - changedAt).toBeLessThan(10_000);
    expect(second.executed).toEqual(["//p:steady"]);
    expect(second.failed).toEqual([]);
    expect(w.stderr()).toMatch(/skipped|cancel/i);
    expect(processRunning(sleepPid)).toBe(false);
    const third = await w.rebuild(3);
    expect(third.executed).toEqual(["//p:slow"]);
    expect(f.read("kiln-out/p/slow/x.out")).toBe("x2\n");
    expect(f.read("kiln-out/p/steady/y.out")).toBe("y2\n");
    expect((await w.stop()).code).toBe(0);
    // The settled state is a clean build's: from scratch, nothing differs.
    const clean = await f.build(["--no-cache", "--sandbox", "dir", "//p:slow", "//p:steady"]);
    expect(clean.code).toBe(0);
    expect(f.read("kiln-out/p/slow/x.out")).toBe("x2\n");
    expect(f.read("kiln-out/p/steady/y.out")).toBe("y2\n");
  });

  it.skipIf(!unshareWorks)("regression: a step cancelled in its namespace sandbox leaves no slot in the way of the next rebuild's", async () => {
    // Found by the differential test: each rebuild's command spawner numbered its namespace slots
    // from 1, and a cancelled helper's slot was never removed, so the next rebuild's first
    // namespaced step failed with "kiln could not mkdir .../<pid>-ns1: EEXIST".
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const slow = cmd({ srcs: { s: "x.txt", nap: "nap.txt" }, outs: ["x.out"], cmd: "sleep $(cat p/nap.txt); cp p/x.txt $OUT/x.out" });`,
        ``,
      ].join("\n"),
      "p/x.txt": "x1\n",
      "p/nap.txt": "0\n",
    });
    const w = startWatch(f, ["--sandbox", "unshare", "//p:slow"]);
    expect((await w.rebuild(1)).executed).toEqual(["//p:slow"]);
    // A running namespaced job is a sandbox moved into its helper's slot (<pid>-nsN/<sandbox>).
    const sandboxes = join(f.ws, ".kiln", "sandbox");
    const inSlot = () => readdirSync(sandboxes).some((entry) => /-ns\d+$/.test(entry) && readdirSync(join(sandboxes, entry)).length > 0);
    f.write({ "p/nap.txt": "30\n" });
    expect(await waitFor(inSlot, 15_000)).toBe(true);
    f.write({ "p/x.txt": "x2\n", "p/nap.txt": "0\n" });
    let last = await w.rebuild(2);
    for (let n = 3; !last.executed.includes("//p:slow") && last.failed.length === 0; n++) last = await w.rebuild(n);
    expect(last.failed, w.stderr()).toEqual([]);
    expect(w.stderr()).not.toMatch(/EEXIST/);
    expect(f.read("kiln-out/p/slow/x.out")).toBe("x2\n");
    expect((await w.stop()).code).toBe(0);
    // Every slot went with its helper.
    expect(readdirSync(sandboxes).filter((entry) => /-ns\d+$/.test(entry))).toEqual([]);
  });

  it("a deleted input fails its target clearly and it recovers when the file returns; Ctrl-C mid-step leaves no process", async () => {
    const pids = makeTempDir();
    const f = makeWorkspace(chain(`export const nap = cmd({ srcs: { s: "nap.txt" }, outs: ["n.txt"], cmd: ${JSON.stringify(`sleep $(cat p/nap.txt) & echo $! > ${pids}/nap.pid; wait; cp p/nap.txt $OUT/n.txt`)} });`));
    f.write({ "p/nap.txt": "0\n" });
    const w = startWatch(f, ["--sandbox", "dir", "//p:other", "//p:nap"]);
    await w.rebuild(1);
    rmSync(join(f.ws, "p/other.txt"));
    await w.stderrMatches(/error: .*other\.txt/);
    f.write({ "p/other.txt": "back\n" });
    const recovered = await w.rebuild(2);
    expect(recovered.executed).toEqual(["//p:other"]);
    expect(f.read("kiln-out/p/other/o.txt")).toBe("back\n");

    rmSync(join(pids, "nap.pid"));
    f.write({ "p/nap.txt": "30\n" });
    const sleepPid = await readPidFile(join(pids, "nap.pid"));
    const stopped = await w.stop();
    expect(stopped.code).toBe(0);
    expect(processRunning(sleepPid)).toBe(false);
  });

  it("an aggregator's sandbox stays with the session between rebuilds, survives damage, and is parked on Ctrl-C", async () => {
    // 300 leaves in 300 directories: a sandbox too large to lend, so held (sandbox-pool.ts).
    const files: Record<string, string> = { "WORKSPACE.ts": WORKSPACE_TS };
    const leaves: string[] = [];
    for (let i = 0; i < 300; i++) {
      files[`l${i}/BUILD.ts`] = `import { cmd } from "kiln";\nexport const leaf = cmd({ srcs: ["in.txt"], outs: ["o.txt"], cmd: "cp l${i}/in.txt $OUT/o.txt" });\n`;
      files[`l${i}/in.txt`] = `${i}\n`;
      leaves.push(`"//l${i}:leaf"`);
    }
    files["agg/BUILD.ts"] = `import { cmd } from "kiln";\nexport const agg = cmd({ srcs: [${leaves.join(", ")}], outs: ["all.txt"], cmd: "cat $SRCS > $OUT/all.txt" });\n`;
    const expected = (edits: Map<number, string>) => Array.from({ length: 300 }, (_, i) => edits.get(i) ?? `${i}\n`).join("");
    const f = makeWorkspace(files);
    const w = startWatch(f, ["//agg:agg"]);
    await w.rebuild(1);
    const sandboxes = join(f.ws, ".kiln", "sandbox");
    const own = () => readdirSync(sandboxes).filter((entry) => /^\d+-\d+$/.test(entry));
    // Parked sandboxes as large as the aggregator's (leaves' small ones are parked as before).
    const parkedLarge = () => {
      const parked = join(sandboxes, "parked");
      if (!existsSync(parked)) return [];
      return readdirSync(parked).filter((entry) => readManifest(join(parked, entry))!.dirs.size > 300);
    };
    // Held, not parked: it keeps this kiln's name. (The summary comes before kiln records the
    // build and parks the leaves' small sandboxes: wait for that.)
    const held = async () => {
      expect(await waitFor(() => own().length === 1, 10_000), own().join(", ")).toBe(true);
      return own()[0]!;
    };
    const first = await held();
    expect(parkedLarge()).toEqual([]);

    const edits = new Map([[7, "seven\n"]]);
    f.write({ "l7/in.txt": "seven\n" });
    const second = await w.rebuild(2);
    expect(second.executed).toEqual(["//agg:agg", "//l7:leaf"]);
    expect(f.read("kiln-out/agg/agg/all.txt")).toBe(expected(edits));

    // Damage the held sandbox between rebuilds: a directory it promises is gone.
    expect(await held()).toBe(first);
    rmSync(join(sandboxes, first, "kiln-out", "l150"), { recursive: true, force: true });
    edits.set(200, "two hundred\n");
    f.write({ "l200/in.txt": "two hundred\n" });
    const third = await w.rebuild(3);
    expect(third.executed).toEqual(["//agg:agg", "//l200:leaf"]);
    expect(f.read("kiln-out/agg/agg/all.txt")).toBe(expected(edits));

    expect((await w.stop()).code).toBe(0);
    // Parked for the next build, and nothing of this kiln left behind.
    expect(own()).toEqual([]);
    expect(parkedLarge()).toHaveLength(1);
    const after = await f.build(["//agg:agg"]);
    expect(after.code).toBe(0);
    expect(after.executed).toEqual([]);
  });
});
