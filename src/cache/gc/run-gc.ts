/**
 * `kiln cache gc` and the automatic trim: takes an inventory of a local cache (the index's
 * results, every blob's stat, the release pins), asks gc-plan.ts what to remove, and removes it:
 * index entries first, in one transaction, then the blobs no kept result refers to. A crash
 * between the two leaves unreferenced blobs, which the next gc finds; never a result without its
 * blobs. One gc at a time per cache (`gc.lock`); a second one finds it busy and does nothing.
 */
import { closeSync, linkSync, lstatSync, openSync, renameSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { StatCache } from "../../state/stat-cache.js";
import { LocalStore } from "../local-store.js";
import { INDEX_FILE } from "../index-health.js";
import { planGc, type BlobEntry, type GcPlan, type ResultEntry } from "./gc-plan.js";
import { readReleasePins } from "./release-pins.js";
import { recordMeasuredUsage } from "./cache-usage.js";
import { processExists } from "../../process-alive.js";

/** Nothing younger than this is removed: a build running beside gc is inserting and using it. */
export const DEFAULT_GRACE_MS = 15 * 60_000;
const LOCK_FILE = "gc.lock";

export interface GcOptions {
  maxBytes?: number;
  olderThanMs?: number;
  graceMs?: number;
  /** Report what would go, remove nothing. */
  dryRun?: boolean;
  now?: number;
}

export interface GcReport extends GcPlan {
  results: number;
  blobs: number;
  /** Another gc held the lock: nothing was done. */
  busy?: true;
  pinnedReleases: number;
  /** The index file's size: gc empties entries, LMDB keeps the pages for reuse. */
  indexBytes: number;
}

export interface CacheInventory {
  results: ResultEntry[];
  blobs: BlobEntry[];
  /** Each blob's inode when listed: one replaced since (the same bytes stored again) is kept. */
  inodes: Map<string, number>;
  indexBytes: number;
}

/** Every result and blob of the store, with what the plan needs of each. */
export function takeInventory(store: LocalStore): CacheInventory {
  const results: ResultEntry[] = [];
  for (const { key, result, lastUsed } of store.listResults()) {
    const blobs = result.outputs.map((output) => output.digest as string);
    if (result.log) blobs.push(result.log);
    // A remote hit leaves the key's ingredients as the blob named by the key.
    blobs.push(key);
    results.push({ key, lastUsed, blobs });
  }
  const blobs: BlobEntry[] = [];
  const inodes = new Map<string, number>();
  const cas = join(store.dir, "cas");
  for (const shard of readdirOrEmpty(cas)) {
    for (const name of readdirOrEmpty(join(cas, shard))) {
      let stats;
      try {
        stats = lstatSync(join(cas, shard, name));
      } catch {
        continue; // removed beside us
      }
      if (!stats.isFile()) continue;
      inodes.set(name, stats.ino);
      blobs.push({ digest: name, size: stats.size, lastTouched: Math.max(stats.mtimeMs, stats.ctimeMs, stats.atimeMs), linkedElsewhere: stats.nlink > 1 });
    }
  }
  let indexBytes = 0;
  try {
    indexBytes = statSync(join(store.dir, INDEX_FILE)).size;
  } catch {
    // no index yet
  }
  return { results, blobs, inodes, indexBytes };
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Runs gc on the cache at `dir`. */
export async function runGc(dir: string, options: GcOptions): Promise<GcReport> {
  const lock = takeLock(dir);
  if (!lock) return { removeKeys: [], removeBlobs: [], bytesBefore: 0, bytesAfter: 0, pinnedKept: 0, results: 0, blobs: 0, busy: true, pinnedReleases: 0, indexBytes: 0 };
  const store = await LocalStore.open(dir, new StatCache());
  try {
    const inventory = takeInventory(store);
    const pins = readReleasePins(dir);
    const plan = planGc({
      results: inventory.results,
      blobs: inventory.blobs,
      pinnedKeys: pins.keys,
      pinnedBlobs: pins.blobs,
      fixedBytes: inventory.indexBytes,
      now: options.now ?? Date.now(),
      maxBytes: options.maxBytes,
      olderThanMs: options.olderThanMs,
      graceMs: options.graceMs ?? DEFAULT_GRACE_MS,
    });
    if (!options.dryRun) {
      await store.removeActions(plan.removeKeys);
      for (const digest of plan.removeBlobs) removeBlob(store, digest, inventory.inodes.get(digest));
      recordMeasuredUsage(dir, plan.bytesAfter);
    }
    return { ...plan, results: inventory.results.length, blobs: inventory.blobs.length, pinnedReleases: pins.releases.length, indexBytes: inventory.indexBytes };
  } finally {
    await store.close();
    releaseLock(dir);
  }
}

let trashCounter = 0;

/**
 * Removes a blob unless a build stored it again since the inventory (an action rerun beside gc
 * replaces the blob by a new inode, and its result, committed after gc's, needs it). Renamed
 * aside first so the check and the removal see one file; one that is not the listed inode is
 * linked back (never over a blob that arrived meanwhile).
 */
function removeBlob(store: LocalStore, digest: string, listedInode: number | undefined): void {
  const path = store.blobPath(digest as never);
  const aside = join(store.dir, "tmp", `gc-${process.pid}-${++trashCounter}`);
  try {
    renameSync(path, aside);
  } catch {
    return; // gone already
  }
  try {
    if (lstatSync(aside).ino !== listedInode) linkSync(aside, path);
  } catch {
    // EEXIST: a newer copy is in place already
  }
  rmSync(aside, { force: true });
}

/** The gc lock: created exclusively; one left by a dead process is taken over. */
function takeLock(dir: string): boolean {
  const file = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const pid = Number(readFileOrEmpty(file).trim());
      if (Number.isInteger(pid) && pid > 0 && processExists(pid)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

function releaseLock(dir: string): void {
  try {
    unlinkSync(join(dir, LOCK_FILE));
  } catch {
    // already gone
  }
}

function readFileOrEmpty(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

