/**
 * Where a workspace keeps what kiln remembers between runs: `.kiln/` at its root (beside
 * kiln-out/, so emptying kiln-out keeps the graph and stat caches and a restore stays fast). Everything here is
 * a cache of something recomputable (stat digests, the loaded graph, step bundles, the last key
 * and outputs of each label), written atomically; deleting it costs time, never correctness.
 */
import { join } from "node:path";
import { STATE_DIR } from "../workspace/root.js";
import { readJsonFile, writeFileAtomic } from "./atomic-file.js";
import type { OutputRecord } from "../cache/local-store.js";
import type { ContentDigest } from "../key/digest.js";

const RESULTS_FORMAT = "kiln.last-results/1";

export function stateDirOf(root: string): string {
  return join(root, STATE_DIR);
}

export const STATE_FILES = {
  statCache: "stat-cache.json",
  graph: "graph.json",
  stepModules: "step-modules.json",
  lastResults: "last-results.json",
} as const;

/** What a label was last built as: its key and its outputs (a no-op build needs nothing else). */
export interface LastResult {
  key: string;
  outputs: OutputRecord[];
}

type SavedResult = [key: string, outputs: [name: string, digest: string, size: number][]];

export function readLastResults(stateDir: string): Map<string, LastResult> {
  const saved = readJsonFile<{ format: string; results: Record<string, SavedResult> }>(join(stateDir, STATE_FILES.lastResults));
  const results = new Map<string, LastResult>();
  if (saved?.format !== RESULTS_FORMAT) return results;
  for (const [label, [key, outputs]] of Object.entries(saved.results)) {
    results.set(label, { key, outputs: outputs.map(([name, digest, size]) => ({ name, digest: digest as ContentDigest, size })) });
  }
  return results;
}

/** Merges with what is on disk, so two builds of different targets do not forget each other's results. */
export function writeLastResults(stateDir: string, results: Map<string, LastResult>, changed: ReadonlySet<string>): void {
  if (changed.size === 0) return;
  const onDisk = readLastResults(stateDir);
  for (const label of changed) onDisk.set(label, results.get(label)!);
  const saved: Record<string, SavedResult> = {};
  for (const [label, { key, outputs }] of onDisk) saved[label] = [key, outputs.map((o) => [o.name, o.digest, o.size])];
  writeFileAtomic(join(stateDir, STATE_FILES.lastResults), JSON.stringify({ format: RESULTS_FORMAT, results: saved }));
}
