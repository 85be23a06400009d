/**
 * The local cache is bounded by default (10 GiB; WORKSPACE.ts's `cacheMaxSize`, KILN_CACHE_MAX_SIZE
 * over it). After a build stores blobs, its bytes are added to the cache's size estimate
 * (cache-usage.ts); when the estimate passes the cap, a detached
 * `kiln cache gc --auto` trims it to 90% of the cap (so the next builds do not trim again at
 * once), least recently used first. The build that notices does not wait: it spawns and returns.
 */
import { spawn } from "node:child_process";
import { setPriority } from "node:os";
import { join } from "node:path";
import { KILN_ROOT } from "../../kiln-install.js";
import { addUsage, type Usage } from "./cache-usage.js";

export const DEFAULT_CACHE_MAX_BYTES = 10 * 1024 ** 3;
/** What an automatic trim leaves, as a share of the cap. */
const TRIM_TO = 0.9;

/**
 * True when a trim should start now: over the cap. (Only a build that stored blobs asks; one gc
 * at a time runs, the others find its lock and stop.)
 */
export function shouldTrim(estimate: Usage, capBytes: number): boolean {
  return estimate.bytes > capBytes;
}

/**
 * After a build: updates the estimate and, if needed, starts the trim in the background.
 * Returns whether it started one. Never throws: the cache's size must not fail a build.
 */
export function trimInBackground(cacheDir: string, bytesStored: number, capBytes: number | null): boolean {
  if (capBytes === null || bytesStored === 0) return false;
  try {
    if (!shouldTrim(addUsage(cacheDir, bytesStored), capBytes)) return false;
    const child = spawn(
      process.execPath,
      [join(KILN_ROOT, "bin", "kiln.cjs"), "cache", "gc", "--auto", "--cache-dir", cacheDir, "--max-size", String(Math.floor(capBytes * TRIM_TO))],
      { detached: true, stdio: "ignore", env: process.env },
    );
    child.on("error", () => undefined);
    if (child.pid !== undefined) {
      try {
        setPriority(child.pid, 10);
      } catch {
        // A nicer priority is a courtesy.
      }
    }
    child.unref();
    return true;
  } catch {
    return false;
  }
}
