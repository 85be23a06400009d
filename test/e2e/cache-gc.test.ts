/**
 * `kiln cache gc` and `kiln cache stats` on real LMDB and real blobs: gc stays under the cap,
 * keeps every blob an indexed result refers to and whatever a release pins, and builds running
 * beside it succeed; a build past the cap trims the cache in the background.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, collect, listBlobs, makeWorkspace, show, stackLines, waitFor, WORKSPACE_TS, type Fixture } from "./harness.js";

afterAll(cleanupTempDirs);

const KiB = 1024;
/** Targets each writing `size` bytes made from `seed`: a chain, so later ones read earlier outputs. */
function pipeline(seed: string, count: number, size = 64 * KiB): Record<string, string> {
  const targets = Array.from({ length: count }, (_, i) =>
    i === 0
      ? `export const t0 = cmd({ srcs: { s: "seed.txt" }, outs: ["o"], cmd: "yes $(cat $SRCS) | head -c ${size} > $OUT/o" });`
      : `export const t${i} = cmd({ srcs: { d: ":t${i - 1}" }, outs: ["o"], cmd: "(echo ${i}; cat $SRCS) | head -c ${size} > $OUT/o" });`,
  );
  return { "WORKSPACE.ts": WORKSPACE_TS, "p/BUILD.ts": [`import { cmd } from "kiln";`, ...targets, ""].join("\n"), "p/seed.txt": `${seed}\n` };
}

/** The index as LMDB holds it, read by the test itself: each result's blobs. */
function indexedResults(cache: string): Map<string, string[]> {
  const require = createRequire(import.meta.url);
  const { open } = require("lmdb") as typeof import("lmdb");
  const db = open({ path: join(cache, "index.lmdb"), compression: false, readOnly: true });
  const results = new Map<string, string[]>();
  try {
    for (const { key, value } of db.getRange({ start: "ac/", end: "ac0" })) {
      const result = value as { outputs: { digest: string }[]; log?: string };
      results.set(String(key).slice(3), [...result.outputs.map((o) => o.digest), ...(result.log ? [result.log] : [])]);
    }
  } finally {
    db.close();
  }
  return results;
}

function missingBlobs(cache: string): string[] {
  const present = new Set(listBlobs(cache).map((path) => path.split("/").pop()!));
  return [...indexedResults(cache).values()].flat().filter((digest) => !present.has(digest));
}

const NOW_IS_OLD = { KILN_CACHE_GC_GRACE: "0s" };

async function gcJson(f: Fixture, args: string[], env: Record<string, string> = NOW_IS_OLD) {
  const run = await f.kiln(["cache", "gc", "--json", ...args], { env });
  expect(run.code, show(run)).toBe(0);
  return JSON.parse(run.stdout) as { removedResults: number; removedBlobs: number; bytesBefore: number; bytesAfter: number; results: number; pinnedResults: number };
}

describe("kiln cache stats", () => {
  it("counts results, blobs and bytes, and the hit rate of recent builds", async () => {
    const f = makeWorkspace(pipeline("a", 3));
    expect((await f.build()).code).toBe(0);
    expect((await f.kiln(["clean"])).code).toBe(0);
    const again = await f.build();
    expect(again.cached).toHaveLength(3);
    const run = await f.kiln(["cache", "stats", "--json"]);
    expect(run.code, show(run)).toBe(0);
    const stats = JSON.parse(run.stdout);
    expect(stats.results).toBe(3);
    expect(stats.blobs).toBeGreaterThanOrEqual(3);
    expect(stats.bytes).toBeGreaterThan(3 * 64 * KiB);
    expect(stats.cap).toEqual({ bytes: 10 * 1024 ** 3, from: "the default" });
    expect(stats.recent).toMatchObject({ builds: 2, steps: 6, hits: 3, local: 3, remote: 0, hitRate: 0.5 });
    const text = await f.kiln(["cache", "stats"]);
    expect(text.stdout).toContain("results: 3");
    expect(text.stdout).toContain("hit rate: 50% over the last 2 builds (3 of 6 steps from the cache: 3 local, 0 remote)");
  });
});

describe("kiln cache gc", () => {
  it("stays under --max-size, least recently used first, and never leaves a result without its blobs", async () => {
    const f = makeWorkspace(pipeline("v1", 4));
    for (const seed of ["v1", "v2", "v3"]) {
      f.write({ "p/seed.txt": `${seed}\n` });
      expect((await f.build()).code).toBe(0);
    }
    // Nothing linked into a kiln-out or a parked sandbox: every blob counts.
    expect((await f.kiln(["clean"])).code).toBe(0);
    const before = indexedResults(f.cache);
    expect(before.size).toBe(12);
    const cap = 5 * 64 * KiB;
    const report = await gcJson(f, ["--max-size", String(cap)]);
    expect(report.bytesBefore).toBeGreaterThan(12 * 64 * KiB);
    expect(report.bytesAfter).toBeLessThanOrEqual(cap);
    expect(report.removedResults).toBeGreaterThanOrEqual(7);
    expect(missingBlobs(f.cache)).toEqual([]);
    // The newest build's results are the ones kept: v3 from the cache, at least its last steps.
    const rebuilt = await f.build();
    expect(rebuilt.code, show(rebuilt)).toBe(0);
    expect(rebuilt.cached.length).toBeGreaterThanOrEqual(1);
    expect(f.read("kiln-out/p/t0/o").startsWith("v3\n")).toBe(true);
    // --older-than removes what is older, whatever the size; a dry run removes nothing.
    const dry = await gcJson(f, ["--older-than", "0s", "--dry-run"]);
    expect(dry.removedResults).toBe(indexedResults(f.cache).size);
    expect(indexedResults(f.cache).size).toBe(dry.results);
  });

  it("keeps what a release pins, even at --max-size 0", async () => {
    const f = makeWorkspace(pipeline("r", 2));
    const release = await f.kiln(["release", "//p:t1", "--version", "1.0.0"]);
    expect(release.code, show(release)).toBe(0);
    const pinnedKey = JSON.parse(f.read("dist/e2e-t1-1.0.0/release.json")).key as string;
    f.write({ "p/seed.txt": "other\n" });
    expect((await f.build()).code).toBe(0);
    expect((await f.kiln(["clean"])).code).toBe(0);
    const report = await gcJson(f, ["--max-size", "0"]);
    expect(report.pinnedResults).toBe(2);
    const kept = indexedResults(f.cache);
    expect([...kept.keys()]).toContain(pinnedKey);
    expect(kept.size).toBe(2);
    expect(missingBlobs(f.cache)).toEqual([]);
    // The released build comes back from the cache.
    f.write({ "p/seed.txt": "r\n" });
    const back = await f.build();
    expect(back.code, show(back)).toBe(0);
    expect(back.cached).toEqual(["//p:t0", "//p:t1"]);
  });

  it("keeps the @source snapshot a release read (kiln lock's copy in the cache)", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": `import { source, workspace } from "kiln";\nexport default workspace({ name: "e2e", sources: { table: source.path("data/t.csv") } });\n`,
      "data/t.csv": "a\n1\n",
      "p/BUILD.ts": `import { cmd } from "kiln";\nexport const m = cmd({ srcs: { t: "@table" }, outs: ["o"], cmd: "(cat $SRCS; echo made) > $OUT/o" });\n`,
    });
    expect((await f.kiln(["lock"])).code).toBe(0);
    const snapshot = JSON.parse(f.read("kiln.lock")).sources.table.sha256 as string;
    const blobNames = () => listBlobs(f.cache).map((path) => path.split("/").pop());
    expect(blobNames()).toContain(snapshot);
    const release = await f.kiln(["release", "//p:m", "--version", "1.0.0"]);
    expect(release.code, show(release)).toBe(0);
    expect((await f.kiln(["clean"])).code).toBe(0);
    await gcJson(f, ["--max-size", "0"]);
    expect(blobNames()).toContain(snapshot);
    expect(missingBlobs(f.cache)).toEqual([]);
  });

  it("never breaks builds running beside it", async () => {
    const cacheOwner = makeWorkspace(pipeline("c", 12, 16 * KiB));
    const other = makeWorkspace(pipeline("c", 12, 16 * KiB), { cache: cacheOwner.cache });
    expect((await cacheOwner.build()).code).toBe(0);
    const expected = cacheOwner.read("kiln-out/p/t11/o");
    // A real grace period: what builds insert is protected by it; hits race gc for old results.
    const env = { KILN_CACHE_GC_GRACE: "1s" };
    for (let round = 0; round < 2; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      // Builds restoring from the cache (kiln-out removed) and building anew, while gc empties it.
      await Promise.all([cacheOwner.kiln(["clean"]), other.kiln(["clean"])]);
      const builds = [cacheOwner, other].map((f) => f.build(["-j", "2"], { env }));
      const gcs = (async () => {
        for (let i = 0; i < 4; i++) {
          const run = await collect(cacheOwner.spawnKiln(["cache", "gc", "--max-size", "0"], { env }));
          expect(run.code, show(run)).toBe(0);
        }
      })();
      const [a, b] = await Promise.all([...builds, gcs.then(() => undefined)]);
      for (const run of [a!, b!]) {
        expect(run.code, show(run)).toBe(0);
        expect(run.summary.failed).toBe(0);
      }
      expect(cacheOwner.read("kiln-out/p/t11/o")).toBe(expected);
      expect(other.read("kiln-out/p/t11/o")).toBe(expected);
      expect(missingBlobs(cacheOwner.cache)).toEqual([]);
    }
  });

  it("a build past the cap trims the cache in the background", async () => {
    const f = makeWorkspace(pipeline("b1", 3));
    const env = { ...NOW_IS_OLD, KILN_CACHE_MAX_SIZE: `${4 * 64}K` };
    const usage = () => (existsSync(join(f.cache, "usage.json")) ? JSON.parse(readFileSync(join(f.cache, "usage.json"), "utf8")).bytes : Infinity);
    for (const seed of ["b1", "b2", "b3", "b4"]) {
      f.write({ "p/seed.txt": `${seed}\n` });
      const run = await f.build([], { env });
      expect(run.code, show(run)).toBe(0);
      // The trim is detached: the build returned; wait for the trim to bring the size under the cap.
      expect(await waitFor(() => usage() <= 4 * 64 * KiB * 0.9 && !existsSync(join(f.cache, "gc.lock")), 20_000)).toBe(true);
    }
    // Four builds of three 64 KiB outputs: some results had to go, the last build's stayed.
    expect(indexedResults(f.cache).size).toBeLessThan(12);
    expect(missingBlobs(f.cache)).toEqual([]);
    const again = await f.build([], { env });
    expect(again.executed).toEqual([]);
  });

  it("refuses bad sizes and ages with exit 2 and a message, no stack trace", async () => {
    const f = makeWorkspace(pipeline("x", 1));
    for (const [args, env, message] of [
      [["cache", "gc", "--max-size", "banana"], {}, '--max-size takes a size such as 10G, 500M or 1048576, not "banana"'],
      [["cache", "gc", "--older-than", "forever"], {}, '--older-than takes an age such as 30d'],
      [["build"], { KILN_CACHE_MAX_SIZE: "lots" }, 'KILN_CACHE_MAX_SIZE must be a size such as 10G or 500M, or off, not "lots"'],
    ] as const) {
      const run = await f.kiln([...args], { env: { ...env } });
      expect(run.code, show(run)).toBe(2);
      expect(run.stderr).toContain(message);
      expect(stackLines(run.stderr)).toEqual([]);
    }
    f.write({ "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "e2e", cacheMaxSize: "huge" });\n` });
    const run = await f.kiln(["build"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain('cacheMaxSize must be a size such as "10G"');
  });
});
