/**
 * The cache's memory of recent builds, for `kiln cache stats`' hit rate: one JSON line a build
 * in `builds.jsonl` beside the index (any workspace using this cache appends). Appends of one
 * short line are atomic enough on local file systems; a torn line is skipped when read. Kept
 * short: past MAX_LINES the file is rewritten with the newest half.
 */
import { appendFileSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SummaryEvent } from "../../events.js";

export const HISTORY_FILE = "builds.jsonl";
const MAX_LINES = 2000;
/** ~80 bytes a line: check the length only when the file may be past MAX_LINES. */
const CHECK_ABOVE_BYTES = MAX_LINES * 80;

export interface BuildRecord {
  at: number;
  steps: number;
  executed: number;
  cachedLocal: number;
  cachedRemote: number;
  failed: number;
  ms: number;
}

/** Appends one build (a summary with no steps, a no-op answered by the stamp, is not a build of the cache). */
export function recordBuild(cacheDir: string, summary: SummaryEvent, at = Date.now()): void {
  if (summary.steps === 0) return;
  const record: BuildRecord = { at, steps: summary.steps, executed: summary.executed, cachedLocal: summary.cachedLocal, cachedRemote: summary.cachedRemote, failed: summary.failed, ms: summary.ms };
  const file = join(cacheDir, HISTORY_FILE);
  appendFileSync(file, `${JSON.stringify(record)}\n`);
  if (statSync(file).size > CHECK_ABOVE_BYTES) {
    const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
    if (lines.length > MAX_LINES) {
      const temp = `${file}.tmp-${process.pid}`;
      writeFileSync(temp, `${lines.slice(-MAX_LINES / 2).join("\n")}\n`);
      renameSync(temp, file);
    }
  }
}

/** The last `count` builds recorded, oldest first. */
export function recentBuilds(cacheDir: string, count: number): BuildRecord[] {
  let text: string;
  try {
    text = readFileSync(join(cacheDir, HISTORY_FILE), "utf8");
  } catch {
    return [];
  }
  const records: BuildRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      const record = JSON.parse(line) as BuildRecord;
      if (typeof record.steps === "number" && typeof record.executed === "number") records.push(record);
    } catch {
      // A torn line (two builds appending at once on a file system without atomic appends).
    }
  }
  return records.slice(-count);
}

/** Steps answered from a cache over all steps that ran or were answered (failed ones included). */
export function hitRate(builds: readonly BuildRecord[]): { steps: number; hits: number; local: number; remote: number; rate: number | undefined } {
  let steps = 0;
  let local = 0;
  let remote = 0;
  for (const build of builds) {
    steps += build.steps;
    local += build.cachedLocal;
    remote += build.cachedRemote;
  }
  const hits = local + remote;
  return { steps, hits, local, remote, rate: steps > 0 ? hits / steps : undefined };
}
