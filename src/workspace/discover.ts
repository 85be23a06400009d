/**
 * Package discovery: every directory under the root holding a BUILD.ts is a package. The walk
 * records each directory's mtime: a file added or removed anywhere changes its directory's mtime,
 * so a cached graph stays valid exactly while those mtimes do. A directory holding its own
 * WORKSPACE.ts is a separate workspace and is not walked into.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { BUILD_FILE, OUTPUT_DIR, WORKSPACE_FILE } from "./root.js";

export interface DirectoryStamp {
  /** Workspace-relative directory ("" for the root). */
  dir: string;
  mtimeMs: number;
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
    stamps.push({ dir, mtimeMs: statSync(abs).mtimeMs });
    const entries = readdirSync(abs, { withFileTypes: true });
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
    try {
      if (statSync(stamp.dir === "" ? root : join(root, stamp.dir)).mtimeMs !== stamp.mtimeMs) return false;
    } catch {
      return false;
    }
  }
  return true;
}
