/**
 * The loaded graph, kept between runs so a no-op build evaluates no BUILD.ts. Two levels:
 *  - the evaluated targets stay valid while kiln's version and the content of every file the
 *    evaluation read (BUILD.ts files and what they import) are unchanged;
 *  - their resolution (globs expanded, source files found) stays valid while, in addition, no
 *    directory of the tree changed (nothing added, removed or renamed).
 * Any doubt means loading or resolving again, which is always correct.
 */
import type { GraphTarget } from "../graph/action-graph.js";
import type { Discovery } from "../workspace/discover.js";
import type { LoadedTarget, WorkspaceManifest } from "../workspace/loader.js";
import type { StatCache } from "./stat-cache.js";
import { readJsonFile, writeFileAtomic } from "./atomic-file.js";
import { isAbsolute, join } from "node:path";

const FORMAT = "kiln.graph/2";

export interface CachedGraph {
  format: typeof FORMAT;
  kilnVersion: string;
  discovery: Discovery;
  manifest: WorkspaceManifest;
  loadedPackages: string[];
  targets: LoadedTarget[];
  /** Each target's resolution (in `targets` order), valid while the discovery's directory stamps are. */
  resolved?: Pick<GraphTarget, "inputs" | "deps">[];
  /** Files read while loading, with their digests. */
  filesRead: [string, string][];
}

export function readGraphCache(file: string): CachedGraph | undefined {
  const cached = readJsonFile<CachedGraph>(file);
  return cached?.format === FORMAT ? cached : undefined;
}

/** True while the evaluated targets can be reused (see the module comment). */
export async function evaluationStillValid(root: string, cached: CachedGraph, kilnVersion: string, statCache: StatCache): Promise<boolean> {
  if (cached.kilnVersion !== kilnVersion) return false;
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
