/**
 * What releases pin in the local cache: `pins/<release>.json` beside the index, holding the keys
 * of every step the release's provenance walks and the digests of its outputs. gc keeps them
 * (and their blobs) whatever their age or the cap, so `kiln why --since` and provenance of a
 * release keep working. Files, not index entries: a damaged index moved aside keeps the pins.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const PINS_DIR = "pins";

export interface ReleasePin {
  release: string;
  keys: string[];
  blobs: string[];
}

/** Records (atomically) what the release `release` needs kept. */
export function writeReleasePin(cacheDir: string, pin: ReleasePin): void {
  const dir = join(cacheDir, PINS_DIR);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${pin.release.replace(/[^A-Za-z0-9_.-]/g, "_")}.json`);
  const temp = `${file}.tmp-${process.pid}`;
  writeFileSync(temp, `${JSON.stringify({ ...pin, keys: [...pin.keys].sort(), blobs: [...pin.blobs].sort() }, null, 1)}\n`);
  renameSync(temp, file);
}

/** Every pin in the cache, merged. A pin file that does not parse pins nothing, and is named. */
export function readReleasePins(cacheDir: string): { releases: string[]; keys: Set<string>; blobs: Set<string>; unreadable: string[] } {
  const keys = new Set<string>();
  const blobs = new Set<string>();
  const releases: string[] = [];
  const unreadable: string[] = [];
  let names: string[];
  try {
    names = readdirSync(join(cacheDir, PINS_DIR));
  } catch {
    return { releases, keys, blobs, unreadable };
  }
  for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
    try {
      const pin = JSON.parse(readFileSync(join(cacheDir, PINS_DIR, name), "utf8")) as ReleasePin;
      for (const key of pin.keys) keys.add(key);
      for (const blob of pin.blobs) blobs.add(blob);
      releases.push(pin.release);
    } catch {
      unreadable.push(name);
    }
  }
  return { releases, keys, blobs, unreadable };
}
