/**
 * The local cache heals itself and the machine's faults fail cleanly: whatever state the LMDB
 * index is in (a zeroed page, truncated, random bytes, not LMDB at all, records of another
 * format, a lock and an open-marker left by a killed build), at most one build fails, with a
 * message naming the cache dir, no build removes a correct output from kiln-out, and the next
 * build succeeds. A cache dir kiln cannot write, or a full one, is exit 2 naming the directory,
 * never "a bug in kiln". The real CLI, the real LMDB; mounts (a read-only or tiny tmpfs) only
 * where this machine permits them.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeTempDir, makeWorkspace, REPO, removeTree, show, stackLines, WORKSPACE_TS, type Fixture, type RunResult } from "./harness.js";

const LMDB = createRequire(join(REPO, "package.json")).resolve("lmdb");
const PAGE = 4096;
const mounted: string[] = [];

afterAll(() => {
  for (const dir of mounted.splice(0)) spawnSync("umount", ["-l", dir]);
  cleanupTempDirs();
});

/** 40 leaves, a target with three outputs, and an aggregator over all of them: 44 output files. */
function pipelineFiles(): Record<string, string> {
  const lines = [`import { cmd } from "kiln";`];
  const leaves: string[] = [];
  for (let i = 0; i < 40; i++) {
    lines.push(`export const leaf${i} = cmd({ outs: ["o.txt"], cmd: "echo leaf-${i} > $OUT/o.txt" });`);
    leaves.push(`":leaf${i}"`);
  }
  lines.push(`export const multi = cmd({ outs: ["a.txt", "b.txt", "c.txt"], cmd: "for f in a b c; do echo $f > $OUT/$f.txt; done" });`);
  lines.push(`export const agg = cmd({ srcs: [${leaves.join(", ")}, ":multi"], outs: ["agg.txt"], cmd: "cat $SRCS > $OUT/agg.txt" });`);
  return { "WORKSPACE.ts": WORKSPACE_TS, "p/BUILD.ts": `${lines.join("\n")}\n` };
}

/** Every file under kiln-out: relative path -> bytes. */
function outputs(ws: string): Map<string, string> {
  const dir = join(ws, "kiln-out");
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isDirectory()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(dir.length + 1), readFileSync(path, "latin1"));
  }
  return new Map([...files].sort());
}

function expectSameOutputs(ws: string, expected: Map<string, string>, when: string): void {
  const now = outputs(ws);
  const missing = [...expected.keys()].filter((path) => !now.has(path));
  expect(missing, `${when}: outputs removed from kiln-out`).toEqual([]);
  for (const [path, bytes] of expected) expect(now.get(path), `${when}: ${path}`).toBe(bytes);
}

function expectNoBugReport(run: RunResult): void {
  expect(run.stderr, show(run)).not.toMatch(/bug in kiln|kiln: internal error/);
  expect(stackLines(run.stderr), show(run)).toEqual([]);
}

/** A successful build, then the state it left: outputs and the index file. */
async function builtPipeline(): Promise<{ f: Fixture; expected: Map<string, string>; index: string }> {
  const f = makeWorkspace(pipelineFiles());
  const first = await f.build();
  expect(first.code, show(first)).toBe(0);
  expect(first.summary).toMatchObject({ steps: 42, executed: 42 });
  const expected = outputs(f.ws);
  expect(expected.size).toBe(44);
  return { f, expected, index: join(f.cache, "index.lmdb") };
}

/** Reads the index in a child: what a walk sees, or how it died. */
function walk(index: string): { ok: boolean; how: string } {
  const source = `
    const { open } = require(process.argv[1]);
    const db = open({ path: process.argv[2], compression: false, readOnly: true });
    let n = 0;
    for (const entry of db.getRange({})) n++;
    if (n !== db.getStats().entryCount) throw new Error("short walk");
  `;
  const run = spawnSync(process.execPath, ["-e", source, LMDB, index], { encoding: "utf8", timeout: 20_000 });
  return { ok: run.status === 0, how: run.signal ?? `exit ${run.status}` };
}

/** Deterministic noise. */
function noise(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

function writeAt(file: string, offset: number, bytes: Buffer): void {
  const content = readFileSync(file);
  bytes.copy(content, offset);
  writeFileSync(file, content);
}

/**
 * The first page after the two meta pages whose overwriting with `bytes` breaks a walk of the
 * index (found on a copy), and that holds `holding` if given: a page the index needs, wherever
 * this lmdb put it.
 */
function vitalPage(index: string, bytes: Buffer, holding?: string): number {
  const scratch = join(makeTempDir("kiln-page-"), "index.lmdb");
  const original = readFileSync(index);
  const pages = Math.floor(original.length / PAGE);
  for (let page = 2; page < pages; page++) {
    if (holding && !original.subarray(page * PAGE, (page + 1) * PAGE).includes(holding)) continue;
    copyFileSync(index, scratch);
    writeAt(scratch, page * PAGE, bytes);
    if (!walk(scratch).ok) return page;
  }
  throw new Error(`no page of ${index} is needed by a walk?`);
}

/**
 * Damages the index, forgets the workspace state (so every result is looked up in the index, as
 * in another checkout sharing the cache), then builds twice: at most the first fails, naming the
 * cache dir; neither removes a correct output; the second succeeds; and a third, with the state
 * forgotten again, is served from the fresh index (the cache trusts itself again). `mayCrash`:
 * damage only a read finds (the stat check cannot see it) may kill the first build.
 */
async function damagedThenTwoBuilds(
  damage: (index: string, f: Fixture) => void | Promise<void>,
  options: { warns: boolean; mayCrash?: boolean },
): Promise<RunResult> {
  const { f, expected, index } = await builtPipeline();
  await damage(index, f);
  removeTree(join(f.ws, ".kiln"));

  const one = await f.kiln(["build"]);
  expectSameOutputs(f.ws, expected, "after the first build");
  expectNoBugReport(one);
  if (one.signal && options.mayCrash) {
    // LMDB crashed the process on a page it trusted: nothing could be printed.
  } else if (one.code !== 0) {
    expect(one.code, show(one)).toBe(2);
    expect(one.stderr).toContain(f.cache);
  } else if (options.warns) {
    expect(one.stderr, show(one)).toContain(`warning: the cache index ${index}`);
    expect(one.stderr.match(/warning: the cache index/g), "one warning").toHaveLength(1);
  }

  const two = await f.build();
  expect(two.code, show(two)).toBe(0);
  expect(two.stderr).not.toContain("warning");
  expectSameOutputs(f.ws, expected, "after the second build");

  removeTree(join(f.ws, ".kiln"));
  const three = await f.build();
  expect(three.code, show(three)).toBe(0);
  // Results the first build executed went into the fresh index; ones it had read from the
  // damaged index before noticing (only possible in-process) are not there.
  if (!options.mayCrash) expect(three.summary).toMatchObject({ steps: 42, executed: 0, cached: 42 });
  expect(three.stderr).not.toContain("warning");
  expectSameOutputs(f.ws, expected, "after the third build");
  // At most one damaged index is kept, beside the fresh one, for a post mortem.
  expect(readdirSync(f.cache).filter((name) => name.startsWith("index.lmdb.bad-")).length).toBeLessThanOrEqual(1);
  return one;
}

describe("a damaged index heals in one build", () => {
  it("a zeroed page", async () => {
    // A page of action results ("ac/<key>"): one the build reads.
    const one = await damagedThenTwoBuilds((index) => writeAt(index, vitalPage(index, Buffer.alloc(PAGE), "ac/") * PAGE, Buffer.alloc(PAGE)), { warns: true });
    expect(one.code, show(one)).toBe(0);
  });

  it("a truncated file", async () => {
    const one = await damagedThenTwoBuilds((index) => truncateSync(index, Math.floor(statSync(index).size / 2)), { warns: true });
    expect(one.code, show(one)).toBe(0);
  });

  it("a page of random bytes", async () => {
    const bytes = noise(PAGE, 42);
    const one = await damagedThenTwoBuilds((index) => writeAt(index, vitalPage(index, bytes, "ac/") * PAGE, bytes), { warns: true });
    expect(one.code, show(one)).toBe(0);
  });

  it("a file that is not LMDB at all", async () => {
    const one = await damagedThenTwoBuilds((index) => writeFileSync(index, "this is not an LMDB file\n"), { warns: true });
    expect(one.code, show(one)).toBe(0);
  });

  it("records of another format (an empty output list is not a hit that empties kiln-out)", async () => {
    const rewrite = `
      const { open } = require(process.argv[1]);
      const db = open({ path: process.argv[2], compression: false });
      db.transactionSync(() => {
        for (const { key, value } of db.getRange({ start: "ac/", end: "ac0" })) db.putSync(key, { ...value, outputs: [] });
      });
      db.close();
    `;
    const one = await damagedThenTwoBuilds((index) => {
      const run = spawnSync(process.execPath, ["-e", rewrite, LMDB, index], { encoding: "utf8" });
      expect(run.status, run.stderr).toBe(0);
    }, { warns: true });
    expect(one.code, show(one)).toBe(0);
  });

  it("damage the stat check cannot see (bit rot): the read error is caught in-process", async () => {
    const bytes = noise(PAGE, 7);
    const one = await damagedThenTwoBuilds((index, f) => {
      const clean = join(f.cache, "index.lmdb.clean");
      expect(existsSync(clean)).toBe(true);
      // A page of action results (keys "ac/..."): the build reads it.
      writeAt(index, vitalPage(index, bytes, "ac/") * PAGE, bytes);
      // Bit rot changes no stat: make the record agree with the damaged file.
      const stats = statSync(index);
      writeFileSync(clean, JSON.stringify({ size: stats.size, mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino }));
    }, { warns: false, mayCrash: true });
    // LMDB throws (caught: one warning naming the index, the build goes on) or crashes on the
    // page (no message is possible; the open-marker it leaves makes the next build check, heal).
    if (one.code === 0) expect(one.stderr, show(one)).toMatch(/warning: the cache index .* is damaged/);
    else expect(one.signal, show(one)).toMatch(/SIGSEGV|SIGBUS|SIGABRT/);
  });

  it("a lock file and open-marker left by a build killed with SIGKILL", async () => {
    await damagedThenTwoBuilds(async (_index, f) => {
      // A build that holds the index open when it dies.
      f.write({ "p/BUILD.ts": `${pipelineFiles()["p/BUILD.ts"]}export const slow = cmd({ srcs: [":agg"], outs: ["s.txt"], cmd: "sleep 5; cat $SRCS > $OUT/s.txt" });\n` });
      const child = f.spawnKiln(["build", "//p:slow"]);
      // Its command's shell outlives it (holding the pipes for a while): wait for kiln's own exit.
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
      const marked = () => readdirSync(f.cache).some((name) => name.startsWith("index.lmdb.open-"));
      for (let waited = 0; !marked() && waited < 20_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 200));
      child.kill("SIGKILL");
      expect(await exited).toBe("SIGKILL");
      f.write(pipelineFiles());
      expect(marked()).toBe(true);
      expect(existsSync(join(f.cache, "index.lmdb-lock"))).toBe(true);
    }, { warns: false });
  });
});

describe("a cache dir kiln cannot use fails cleanly", () => {
  it("a path through a regular file (ENOTDIR): exit 2 naming the directory", async () => {
    const base = makeTempDir();
    writeFileSync(join(base, "file"), "not a directory\n");
    const cache = join(base, "file", "cache");
    const f = makeWorkspace(pipelineFiles(), { cache });
    const run = await f.kiln(["build"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(cache);
    expect(run.stderr).toContain("--cache-dir");
    expect(run.stderr).toContain("KILN_CACHE_DIR");
    expectNoBugReport(run);
    expect(existsSync(join(f.ws, "kiln-out"))).toBe(false);
  });

  const canMount = (() => {
    const dir = makeTempDir("kiln-mount-probe-");
    const run = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
    if (run.status !== 0) return false;
    spawnSync("umount", [dir]);
    return true;
  })();

  function mountTmpfs(options: string): string {
    const dir = join(makeTempDir("kiln-tmpfs-"), "cache");
    mkdirSync(dir);
    const run = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    mounted.push(dir);
    return dir;
  }

  it.skipIf(!canMount)("a read-only file system: exit 2 naming the directory; writable again, the next build works", async () => {
    const cache = mountTmpfs("size=16m");
    const f = makeWorkspace(pipelineFiles(), { cache });
    expect((await f.build()).code).toBe(0);
    const expected = outputs(f.ws);
    expect(spawnSync("mount", ["-o", "remount,ro", cache]).status).toBe(0);
    removeTree(join(f.ws, ".kiln"));
    const run = await f.kiln(["build"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(cache);
    expect(run.stderr).toMatch(/read-only|EROFS/i);
    expectNoBugReport(run);
    expectSameOutputs(f.ws, expected, "after the refused build");

    expect(spawnSync("mount", ["-o", "remount,rw", cache]).status).toBe(0);
    const again = await f.build();
    expect(again.code, show(again)).toBe(0);
    expect(again.summary).toMatchObject({ executed: 0, cached: 42 });
  });

  it.skipIf(!canMount)("a full cache file system (ENOSPC): exit 2 naming it, state saved, and once there is room the next build trusts the cache", async () => {
    const cache = mountTmpfs("size=512k");
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const small = cmd({ outs: ["s.txt"], cmd: "echo small > $OUT/s.txt" });`,
        `export const big = cmd({ srcs: [":small"], outs: ["b.bin"], cmd: "head -c 2000000 /dev/zero > $OUT/b.bin" });`,
        ``,
      ].join("\n"),
    });
    const full = await f.kiln(["build", "--cache-dir", cache]);
    expect(full.code, show(full)).toBe(2);
    expect(full.stderr).toContain(cache);
    expect(full.stderr).toMatch(/ENOSPC|no space/i);
    expectNoBugReport(full);
    // One message: the step that could not be stored fails, naming the cache dir.
    expect(full.stderr.match(/FAILED \/\/p:big: /g), full.stderr).toHaveLength(1);
    // No partial copy is left in the cache's temp dir, and the workspace state was saved.
    expect(readdirSync(join(cache, "tmp"))).toEqual([]);
    expect(existsSync(join(f.ws, ".kiln"))).toBe(true);
    expect(f.read("kiln-out/p/small/s.txt")).toBe("small\n");

    expect(spawnSync("mount", ["-o", "remount,size=16m", cache]).status).toBe(0);
    const next = await f.build(["--cache-dir", cache]);
    expect(next.code, show(next)).toBe(0);
    expect(next.executed).toEqual(["//p:big"]);
    expect(next.cached).toEqual(["//p:small"]);
    expect(statSync(f.out("p", "big", "b.bin")).size).toBe(2_000_000);
    removeTree(join(f.ws, ".kiln"));
    const trusted = await f.build(["--cache-dir", cache]);
    expect(trusted.code, show(trusted)).toBe(0);
    expect(trusted.summary).toMatchObject({ executed: 0, cached: 2 });
  });

  it.skipIf(!canMount)("an LMDB commit that fails for lack of space: exit 2 naming the index, outputs kept, the next build trusts what it has", async () => {
    const cache = mountTmpfs("size=1m");
    // The step fills the cache's file system but for 16 KiB: its blob fits, the index cannot
    // grow by its 100 KB record (the env value is in the key's ingredients).
    const fill = `avail=$(df -k --output=avail "$FILL" | tail -1); head -c $(( (avail - 16) * 1024 )) /dev/zero > "$FILL/filler"; echo done > $OUT/o.txt`;
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const first = cmd({ outs: ["f.txt"], cmd: "echo first > $OUT/f.txt" });`,
        `export const fills = cmd({ srcs: [":first"], outs: ["o.txt"], env: { FILL: ${JSON.stringify(cache)}, BIG: "${"x".repeat(100_000)}" }, cmd: ${JSON.stringify(fill)} });`,
        ``,
      ].join("\n"),
    });
    // The directory sandbox: the command must reach the cache's file system to fill it.
    const run = await f.kiln(["build", "--sandbox", "dir"], { env: { KILN_CACHE_DIR: cache } });
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(join(cache, "index.lmdb"));
    // LMDB reports a page write that ran out of room as ENOSPC or, from some paths, as EIO.
    expect(run.stderr).toMatch(/no space left on device|input\/output error/i);
    expect(run.stderr.match(/kiln: error/g)).toHaveLength(1);
    expectNoBugReport(run);
    expect(f.read("kiln-out/p/fills/o.txt")).toBe("done\n");

    removeTree(join(cache, "filler"));
    const next = await f.build([], { env: { KILN_CACHE_DIR: cache } });
    expect(next.code, show(next)).toBe(0);
    expect(next.summary).toMatchObject({ executed: 0, cached: 2 });
    expect(next.stderr).toBe("");
  });
});
