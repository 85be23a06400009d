/**
 * `kiln cache gc` and `kiln cache stats`: the local cache's size, what trimming it removes, and
 * how often recent builds were answered from it. The planning is src/cache/gc/; this file turns
 * flags into a request and a report into lines (or one JSON object with --json).
 */
import { existsSync } from "node:fs";
import { relative } from "node:path";
import { formatBytes, parseDuration, parseSize } from "../byte-size.js";
import { DEFAULT_CACHE_MAX_BYTES } from "../cache/gc/auto-trim.js";
import { hitRate, recentBuilds } from "../cache/gc/build-history.js";
import { readReleasePins } from "../cache/gc/release-pins.js";
import { DEFAULT_GRACE_MS, runGc, takeInventory } from "../cache/gc/run-gc.js";
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { inputError } from "../errors.js";
import { StatCache } from "../state/stat-cache.js";
import { findWorkspaceRoot } from "../workspace/root.js";
import { cacheCapFromEnv } from "./build-command.js";

export interface CacheGcOptions {
  workspace?: string;
  cacheDir?: string;
  maxSize?: string;
  olderThan?: string;
  dryRun?: boolean;
  json?: boolean;
  /** Started by a build past the cap (auto-trim.ts): quiet, and never an error. */
  auto?: boolean;
}

/** Builds whose steps the hit rate is taken over. */
const RECENT_BUILDS = 50;

/** The cap when --max-size is not given: KILN_CACHE_MAX_SIZE, else the workspace's, else 10 GiB. */
async function defaultCap(options: CacheGcOptions): Promise<{ bytes: number | null; from: string }> {
  const fromEnv = cacheCapFromEnv(process.env);
  if (fromEnv !== undefined) return { bytes: fromEnv, from: "KILN_CACHE_MAX_SIZE" };
  let root: string | undefined;
  try {
    root = findWorkspaceRoot(process.cwd(), options.workspace);
  } catch (error) {
    if (options.workspace !== undefined) throw error;
  }
  if (root) {
    const { WorkspaceSession } = await import("../session/workspace-session.js");
    try {
      const { manifest } = await WorkspaceSession.open(root, undefined).load([]);
      if (manifest.cacheMaxBytes !== undefined) return { bytes: manifest.cacheMaxBytes, from: "WORKSPACE.ts cacheMaxSize" };
    } catch (error) {
      // A workspace that does not load must not keep its cache from being trimmed or inspected.
      if (options.workspace !== undefined) throw error;
      return { bytes: DEFAULT_CACHE_MAX_BYTES, from: "the default (the workspace here does not load)" };
    }
  }
  return { bytes: DEFAULT_CACHE_MAX_BYTES, from: "the default" };
}

/** KILN_CACHE_GC_GRACE ("0s", "5m"): how recent is too recent to remove; for tests and the impatient. */
function graceFromEnv(): number {
  const text = process.env.KILN_CACHE_GC_GRACE;
  if (text === undefined || text === "") return DEFAULT_GRACE_MS;
  const ms = parseDuration(text);
  if (ms === undefined) throw inputError(`KILN_CACHE_GC_GRACE must be a duration such as 15m or 0s, not "${text}"`);
  return ms;
}

export async function runCacheGc(options: CacheGcOptions): Promise<number> {
  const dir = options.cacheDir ?? defaultCacheDir(process.env);
  let maxBytes: number | undefined;
  let olderThanMs: number | undefined;
  if (options.maxSize !== undefined) {
    maxBytes = parseSize(options.maxSize);
    if (maxBytes === undefined) throw inputError(`--max-size takes a size such as 10G, 500M or 1048576, not "${options.maxSize}"`);
  }
  if (options.olderThan !== undefined) {
    olderThanMs = parseDuration(options.olderThan);
    if (olderThanMs === undefined) throw inputError(`--older-than takes an age such as 30d, 12h, 90m or 2w, not "${options.olderThan}"`);
  }
  let capNote = "";
  if (maxBytes === undefined && olderThanMs === undefined) {
    const cap = await defaultCap(options);
    if (cap.bytes === null) {
      process.stdout.write(`kiln cache gc: the cap is off (${cap.from}); give --max-size or --older-than to trim\n`);
      return 0;
    }
    maxBytes = cap.bytes;
    capNote = ` (the cap, from ${cap.from})`;
  }
  const report = await runGc(dir, { maxBytes, olderThanMs, graceMs: graceFromEnv(), dryRun: options.dryRun });
  if (options.auto) return 0;
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({
        type: "gc",
        dir,
        busy: report.busy === true,
        dryRun: options.dryRun === true,
        results: report.results,
        blobs: report.blobs,
        removedResults: report.removeKeys.length,
        removedBlobs: report.removeBlobs.length,
        bytesBefore: report.bytesBefore,
        bytesAfter: report.bytesAfter,
        pinnedResults: report.pinnedKept,
      })}\n`,
    );
    return 0;
  }
  if (report.busy) {
    process.stdout.write(`kiln cache gc: another gc is trimming ${dir}; nothing done\n`);
    return 0;
  }
  const verb = options.dryRun ? "would remove" : "removed";
  const limits = [maxBytes !== undefined ? `at most ${formatBytes(maxBytes)}${capNote}` : "", olderThanMs !== undefined ? `nothing unused for ${options.olderThan}` : ""].filter(Boolean).join(", ");
  process.stdout.write(
    `kiln cache gc: ${verb} ${report.removeKeys.length} of ${report.results} results and ${report.removeBlobs.length} of ${report.blobs} blobs; ` +
      `${formatBytes(report.bytesBefore)} -> ${formatBytes(report.bytesAfter)} (${limits})\n`,
  );
  if (report.pinnedKept > 0) process.stdout.write(`  kept ${report.pinnedKept} results pinned by ${report.pinnedReleases} release${report.pinnedReleases === 1 ? "" : "s"}\n`);
  if (maxBytes !== undefined && report.bytesAfter > maxBytes) {
    const why = [`${formatBytes(report.indexBytes)} is the index, which LMDB does not shrink (it reuses the pages; kiln clean --cache starts afresh)`];
    if (report.bytesAfter - report.indexBytes > 0) why.push(`the blobs left are in use (used in the last ${Math.round(graceFromEnv() / 60_000)} min, pinned by a release, or linked into a kiln-out)`);
    process.stdout.write(`  still over the limit: ${why.join("; ")}\n`);
  }
  return 0;
}

export interface CacheStats {
  dir: string;
  results: number;
  blobs: number;
  /** Bytes of blobs plus the index. */
  bytes: number;
  /** Of those, bytes of blobs also hard-linked elsewhere (a kiln-out, a parked sandbox): removing them frees nothing. */
  linkedBytes: number;
  indexBytes: number;
  cap: { bytes: number | null; from: string };
  pinned: { releases: number; results: number };
  recent: { builds: number; steps: number; hits: number; local: number; remote: number; hitRate: number | null };
}

export async function runCacheStats(options: { workspace?: string; cacheDir?: string; json?: boolean }): Promise<number> {
  const dir = options.cacheDir ?? defaultCacheDir(process.env);
  if (!existsSync(dir)) {
    // Looking must not make one.
    if (options.json) process.stdout.write(`${JSON.stringify({ type: "cache-stats", dir, results: 0, blobs: 0, bytes: 0, missing: true })}\n`);
    else process.stdout.write(`cache: ${dir} does not exist yet (the first build makes it)\n`);
    return 0;
  }
  const store = await LocalStore.open(dir, new StatCache());
  let inventory;
  try {
    inventory = takeInventory(store);
  } finally {
    await store.close();
  }
  const pins = readReleasePins(dir);
  const builds = recentBuilds(dir, RECENT_BUILDS);
  const rate = hitRate(builds);
  let bytes = inventory.indexBytes;
  let linkedBytes = 0;
  for (const blob of inventory.blobs) {
    bytes += blob.size;
    if (blob.linkedElsewhere) linkedBytes += blob.size;
  }
  const stats: CacheStats = {
    dir,
    results: inventory.results.length,
    blobs: inventory.blobs.length,
    bytes,
    linkedBytes,
    indexBytes: inventory.indexBytes,
    cap: await defaultCap(options),
    pinned: { releases: pins.releases.length, results: inventory.results.filter((r) => pins.keys.has(r.key)).length },
    recent: { builds: builds.length, steps: rate.steps, hits: rate.hits, local: rate.local, remote: rate.remote, hitRate: rate.rate ?? null },
  };
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ type: "cache-stats", ...stats })}\n`);
    return 0;
  }
  const shown = relative(process.cwd(), dir).startsWith("..") ? dir : relative(process.cwd(), dir) || ".";
  const lines = [
    `cache: ${shown}`,
    `  results: ${stats.results} (index ${formatBytes(stats.indexBytes)})`,
    `  blobs: ${stats.blobs}, ${formatBytes(bytes - stats.indexBytes)} (${formatBytes(linkedBytes)} of it also linked into kiln-out or sandboxes)`,
    `  size: ${formatBytes(bytes)}; cap ${stats.cap.bytes === null ? "off" : formatBytes(stats.cap.bytes)} (${stats.cap.from})`,
    `  pinned by releases: ${stats.pinned.releases} release${stats.pinned.releases === 1 ? "" : "s"}, ${stats.pinned.results} results`,
    stats.recent.builds === 0
      ? "  recent builds: none recorded yet"
      : `  hit rate: ${Math.round((stats.recent.hitRate ?? 0) * 100)}% over the last ${stats.recent.builds} build${stats.recent.builds === 1 ? "" : "s"} ` +
        `(${stats.recent.hits} of ${stats.recent.steps} steps from the cache: ${stats.recent.local} local, ${stats.recent.remote} remote)`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}
