/**
 * Where a workspace keeps what kiln remembers between runs: `kiln-out/.kiln/`. Everything here is
 * a cache of something recomputable (stat digests, the loaded graph, step bundles, the last key of
 * each label), written atomically; deleting it costs time, never correctness.
 */
import { join } from "node:path";
import { OUTPUT_DIR } from "../workspace/root.js";
import { readJsonFile, writeFileAtomic } from "./atomic-file.js";

export function stateDirOf(root: string): string {
  return join(root, OUTPUT_DIR, ".kiln");
}

export const STATE_FILES = {
  statCache: "stat-cache.json",
  graph: "graph.json",
  stepModules: "step-modules.json",
  lastKeys: "last-keys.json",
} as const;

export function readLastKeys(stateDir: string): Map<string, string> {
  const saved = readJsonFile<Record<string, string>>(join(stateDir, STATE_FILES.lastKeys));
  return new Map(Object.entries(saved ?? {}));
}

/** Merges with what is on disk, so two builds of different targets do not forget each other's keys. */
export function writeLastKeys(stateDir: string, keys: Map<string, string>, changed: ReadonlySet<string>): void {
  if (changed.size === 0) return;
  const onDisk = readLastKeys(stateDir);
  for (const label of changed) onDisk.set(label, keys.get(label)!);
  writeFileAtomic(join(stateDir, STATE_FILES.lastKeys), JSON.stringify(Object.fromEntries(onDisk)));
}
