/**
 * Where a workspace keeps what kiln remembers between runs: `.kiln/` at its root (beside
 * kiln-out/, so emptying kiln-out keeps the graph and stat caches and a restore stays fast). Everything here is
 * a cache of something recomputable (stat digests, the loaded graph, step bundles, the last key
 * and outputs of each label), written atomically; deleting it costs time, never correctness.
 */
import { join } from "node:path";
import { STATE_DIR } from "../workspace/root.js";
import { JournaledFile } from "./journaled-file.js";
import type { OutputRecord } from "../cache/local-store.js";
import type { ContentDigest } from "../key/digest.js";

const RESULTS_FORMAT = "kiln.last-results/1";

export function stateDirOf(root: string): string {
  return join(root, STATE_DIR);
}

export const STATE_FILES = {
  statCache: "stat-cache.bin",
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
type Snapshot = { format: string; results: Record<string, SavedResult> };
/** A log line: one label's new result. */
type LoggedResult = [label: string, ...SavedResult];

const fromSaved = ([key, outputs]: SavedResult): LastResult => ({
  key,
  outputs: outputs.map(([name, digest, size]) => ({ name, digest: digest as ContentDigest, size })),
});
const toSaved = ({ key, outputs }: LastResult): SavedResult => [key, outputs.map((o) => [o.name, o.digest, o.size])];

/**
 * The last key and outputs of every label, journaled (see journaled-file.ts): a build that
 * re-keys 2 of 10,000 labels appends 2 lines.
 */
export class LastResultsFile {
  private readonly journal: JournaledFile<Snapshot, LoggedResult>;

  constructor(private readonly stateDir: string) {
    this.journal = new JournaledFile(join(stateDir, STATE_FILES.lastResults));
  }

  read(): Map<string, LastResult> {
    const { snapshot, entries } = this.journal.read();
    const results = new Map<string, LastResult>();
    if (snapshot?.format !== RESULTS_FORMAT) return results;
    // for...in, not Object.entries: no pair array for each of 100,000 labels.
    for (const label in snapshot.results) results.set(label, fromSaved(snapshot.results[label]!));
    for (const [label, ...saved] of entries) results.set(label, fromSaved(saved));
    return results;
  }

  /**
   * Records the `changed` labels' results. A full snapshot merges with what is on disk then, so
   * two builds of different targets do not forget each other's results.
   */
  write(results: ReadonlyMap<string, LastResult>, changed: ReadonlySet<string>): void {
    const lines = () => [...changed].map((label): LoggedResult => [label, ...toSaved(results.get(label)!)]);
    this.journal.save(changed.size, lines, () => {
      // Read afresh (a reader of its own: this one's log bookkeeping must stay as it is).
      const merged = new LastResultsFile(this.stateDir).read();
      for (const label of changed) merged.set(label, results.get(label)!);
      const saved: Record<string, SavedResult> = {};
      for (const [label, result] of merged) saved[label] = toSaved(result);
      return { format: RESULTS_FORMAT, results: saved };
    });
  }
}
