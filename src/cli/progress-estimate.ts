/**
 * The ETA of a build in progress, from how long each step took when it last executed
 * (.kiln/step-results.log). Pure. Steps never executed before count as the median of those that
 * have (or nothing, with no history at all: then there is no ETA). Cache hits end at once, so
 * the estimate falls as lookups answer; it is work left spread over the jobs, never less than the
 * longest running step's remainder.
 */

export interface EstimateInput {
  /** Labels not finished and not running. */
  pending: Iterable<string>;
  /** Running steps and how long they have run (ms). */
  running: Iterable<{ label: string; elapsedMs: number }>;
  /** Last executed duration by label (ms). */
  history: ReadonlyMap<string, number>;
  jobs: number;
}

/** Milliseconds left, or undefined when nothing is known to estimate from. */
export function estimateRemainingMs(input: EstimateInput): number | undefined {
  if (input.history.size === 0) return undefined;
  const known = [...input.history.values()].sort((a, b) => a - b);
  const median = known[Math.floor(known.length / 2)]!;
  const expected = (label: string) => input.history.get(label) ?? median;
  let work = 0;
  let longestRunning = 0;
  for (const { label, elapsedMs } of input.running) {
    const left = Math.max(0, expected(label) - elapsedMs);
    work += left;
    longestRunning = Math.max(longestRunning, left);
  }
  for (const label of input.pending) work += expected(label);
  return Math.max(longestRunning, work / Math.max(1, input.jobs));
}

/** 1234 -> "1.2s", 75000 -> "1m15s". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")}s`;
}
