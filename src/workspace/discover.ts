/**
 * Package discovery: every directory under the root holding a BUILD.ts is a package. The walk
 * records each directory's mtime and a digest of its listing: a file added or removed anywhere
 * changes its directory's mtime, so a cached graph stays valid while those mtimes do, or, when
 * an mtime moved, while the listing is the same (kiln making kiln-out/ or .kiln/ at the root moves
 * the root's mtime and changes nothing that matters). A directory holding its own WORKSPACE.ts is
 * a separate workspace and is not walked into.
 */
import { readdirSync, readlinkSync, statSync, type Dirent } from "node:fs";
import { join } from "node:path";
import { digestBytes } from "../key/digest.js";
import { recordDirectoryMtime } from "../key/file-identity.js";
import { BUILD_FILE, OUTPUT_DIR, STATE_DIR, WORKSPACE_FILE } from "./root.js";

export interface DirectoryStamp {
  /** Workspace-relative directory ("" for the root). */
  dir: string;
  /** NaN (null in JSON) when too recent to trust: see key/file-identity.ts. */
  mtimeMs: number;
  /** Digest of the directory's entries (names, whether each is a directory, where links point), see `listingDigest`. */
  listing?: string;
}

/** Entries whose coming and going never changes what a build means. */
const NOT_LISTED = new Set([OUTPUT_DIR, STATE_DIR]);

/**
 * A digest of a directory's entries, kiln's own directories left out. A symbolic link counts
 * with where it points: a source link moved to another file (`ln -sfn`) keeps its name, and
 * what the graph knows of it (where it leads: source-links.ts) must be found again.
 */
export function listingDigest(entries: readonly Dirent[]): string {
  const names = entries.filter((e) => !NOT_LISTED.has(e.name)).map((e) => `${e.isDirectory() ? "d" : e.isSymbolicLink() ? `l${linkText(e)}` : "f"}:${e.name}`);
  return digestBytes(names.sort().join("\n")).slice(0, 32);
}

function linkText(entry: Dirent): string {
  try {
    return readlinkSync(join(entry.parentPath, entry.name));
  } catch {
    return "?";
  }
}

/** The listing digest of the directory at `abs` now, or undefined if it cannot be read. */
export function currentListingDigest(abs: string): string | undefined {
  try {
    return listingDigest(readdirSync(abs, { withFileTypes: true }));
  } catch {
    return undefined;
  }
}

export interface Discovery {
  /** Workspace-relative package paths, sorted ("" is the root package). */
  packages: string[];
  /** Every directory walked, to revalidate the discovery without walking again. */
  stamps: DirectoryStamp[];
}

const SKIPPED = new Set(["node_modules", OUTPUT_DIR]);

export function discoverPackages(root: string): Discovery {
  const packages: string[] = [];
  const stamps: DirectoryStamp[] = [];
  const pending = [""];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const abs = dir === "" ? root : join(root, dir);
    // A directory changed too recently is recorded as NaN, never equal: listed again next time.
    const mtimeMs = recordDirectoryMtime(statSync(abs).mtimeMs, Date.now());
    const entries = readdirSync(abs, { withFileTypes: true });
    stamps.push({ dir, mtimeMs, listing: listingDigest(entries) });
    // A directory with its own WORKSPACE.ts is another workspace (an example, a test fixture).
    if (dir !== "" && entries.some((e) => e.name === WORKSPACE_FILE && e.isFile())) continue;
    for (const entry of entries) {
      if (entry.isDirectory()) {
        if (entry.name.startsWith(".") || SKIPPED.has(entry.name)) continue;
        pending.push(dir === "" ? entry.name : `${dir}/${entry.name}`);
      } else if (entry.name === BUILD_FILE && entry.isFile()) {
        packages.push(dir);
      }
    }
  }
  packages.sort();
  stamps.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  return { packages, stamps };
}

/** True while no directory walked has changed (nothing added, removed or renamed). */
export function discoveryStillValid(root: string, stamps: readonly DirectoryStamp[]): boolean {
  for (const stamp of stamps) {
    const abs = stamp.dir === "" ? root : join(root, stamp.dir);
    try {
      if (statSync(abs).mtimeMs === stamp.mtimeMs) continue;
    } catch {
      return false;
    }
    if (stamp.listing === undefined || currentListingDigest(abs) !== stamp.listing) return false;
  }
  return true;
}
