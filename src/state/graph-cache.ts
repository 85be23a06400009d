/**
 * The loaded graph, kept between runs so a no-op build evaluates no BUILD.ts. It is valid while
 * kiln's version, the tree's directories (nothing added or removed) and the content of every file
 * the evaluation read are unchanged; any doubt means loading again, which is always correct.
 */
import type { Discovery } from "../workspace/discover.js";
import { discoveryStillValid } from "../workspace/discover.js";
import type { LoadedTarget, WorkspaceManifest } from "../workspace/loader.js";
import type { StatCache } from "../key/stat-cache.js";
import { readJsonFile, writeFileAtomic } from "./atomic-file.js";
import { isAbsolute, join } from "node:path";

const FORMAT = "kiln.graph/1";

export interface CachedGraph {
  format: typeof FORMAT;
  kilnVersion: string;
  discovery: Discovery;
  manifest: WorkspaceManifest;
  loadedPackages: string[];
  targets: LoadedTarget[];
  /** Files read while loading, with their digests. */
  filesRead: [string, string][];
}

export function readGraphCache(file: string): CachedGraph | undefined {
  const cached = readJsonFile<CachedGraph>(file);
  return cached?.format === FORMAT ? cached : undefined;
}

export async function graphCacheStillValid(root: string, cached: CachedGraph, kilnVersion: string, statCache: StatCache): Promise<boolean> {
  if (cached.kilnVersion !== kilnVersion) return false;
  if (!discoveryStillValid(root, cached.discovery.stamps)) return false;
  for (const [path, digest] of cached.filesRead) {
    try {
      const current = await statCache.digest(isAbsolute(path) ? path : join(root, path));
      if (current.digest !== digest) return false;
    } catch {
      return false;
    }
  }
  return true;
}

export function writeGraphCache(file: string, graph: Omit<CachedGraph, "format">): void {
  writeFileAtomic(file, JSON.stringify({ format: FORMAT, ...graph }));
}
