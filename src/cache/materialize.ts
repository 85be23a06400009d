/**
 * Putting a target's cached outputs into kiln-out/<pkg>/<target>/, read-only. Each file is placed
 * whole from its verified blob (see place-file.ts): a crash leaves the previous output or the new
 * one, never a torn file. Files already in place with the right
 * content (known by stat) are left alone, and files the target no longer declares are removed.
 */
import { readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import type { StatCache } from "../state/stat-cache.js";
import { ensureDirectory } from "../ensure-directory.js";
import type { LocalStore, OutputRecord } from "./local-store.js";
import { placeFile } from "./place-file.js";
import { statPath } from "../stat-path.js";

let tempCounter = 0;
/** Output directories made or seen by this build (forgetOutputDirectories at each build's start). */
const knownDirectories = new Set<string>();

/**
 * A resident process (kiln server, kiln watch) starts each build knowing no directory of kiln-out:
 * between two builds the user may have removed it (`rm -rf kiln-out`), and a directory believed
 * made would fail the next restore into it.
 */
export function forgetOutputDirectories(): void {
  knownDirectories.clear();
}

/** True when every output is already in kiln-out with the right content (known by stat). */
export function outputsInPlace(outDir: string, outputs: readonly OutputRecord[], statCache: StatCache): boolean {
  for (const output of outputs) {
    const dest = join(outDir, output.name);
    const stats = statPath(dest);
    if (!stats || statCache.lookup(dest, stats) !== output.digest) return false;
  }
  return true;
}

export function materializeOutputs(
  outDir: string,
  outputs: readonly OutputRecord[],
  store: LocalStore,
  statCache: StatCache,
  /** Same file system as outDir; a crash can leave temp files here, never in kiln-out. */
  tempDir: string,
): void {
  let placed = false;
  // A directory this call made holds nothing undeclared: no listing needed.
  let madeDirectory = false;
  for (const output of outputs) {
    const dest = join(outDir, output.name);
    // No exception for a missing file: a restore into an empty kiln-out misses every one.
    const existing = statPath(dest);
    if (existing && statCache.lookup(dest, existing) === output.digest) continue;
    const dir = dirname(dest);
    if (ensureDirectory(dir, knownDirectories) && dir === outDir) madeDirectory = true;
    const blob = store.blobPath(output.digest);
    const linked = placeFile(blob, dest, () => join(tempDir, `${process.pid}-m${++tempCounter}`), existing !== undefined);
    // A link shares the blob's inode, so it has the stat the blob was verified with: no stat.
    // (Recorded without ctime, as kiln's own file: see key/file-identity.ts.)
    const blobIdentity = linked ? statCache.identityOf(blob) : undefined;
    if (blobIdentity) statCache.rememberIdentity(dest, blobIdentity, output.digest);
    else statCache.remember(dest, statSync(dest), output.digest, "kiln");
    placed = true;
  }
  // Only a target whose outputs changed can have stale files: a no-op build skips the listing.
  if ((placed && !madeDirectory) || outputs.length === 0) removeUndeclared(outDir, new Set(outputs.map((o) => o.name)));
}

function removeUndeclared(outDir: string, declared: Set<string>): void {
  let entries: string[];
  try {
    entries = readdirSync(outDir, { recursive: true }) as string[];
  } catch {
    return;
  }
  if (entries.length === declared.size) return;
  for (const entry of entries) {
    const name = entry.split(sep).join("/");
    if (declared.has(name) || [...declared].some((d) => d.startsWith(`${name}/`))) continue;
    rmSync(join(outDir, entry), { recursive: true, force: true });
  }
}

/** Lists files under `dir` as relative POSIX paths. */
export function listFiles(dir: string): string[] {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { recursive: true, withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join("/"))
    .sort();
}
