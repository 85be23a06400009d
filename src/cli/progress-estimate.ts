/**
 * The ETA of a build in progress, from how long each step took when it last executed
 * (.kiln/step-results.log). Pure. Steps never executed before count as the median of those that
 * have (or nothing, with no history at all: then there is no ETA). Cache hits end at once, so
 * the estimate falls as lookups answer; it is work left spread over the jobs, never less than the
 * longest chain of unfinished steps (when the dependencies are known) or the longest running
 * step's remainder.
 */

export interface EstimateInput {
  /** Labels not finished and not running. */
  pending: Iterable<string>;
  /** Running steps and how long they have run (ms). */
  running: Iterable<{ label: string; elapsedMs: number }>;
  /** Last executed duration by label (ms). */
  history: ReadonlyMap<string, number>;
  jobs: number;
  /** Each planned label's dependencies, for the longest chain left. */
  deps?: ReadonlyMap<string, readonly string[]>;
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
  const left = new Map<string, number>();
  for (const { label, elapsedMs } of input.running) left.set(label, Math.max(0, expected(label) - elapsedMs));
  for (const label of input.pending) {
    work += expected(label);
    left.set(label, expected(label));
  }
  return Math.max(longestRunning, work / Math.max(1, input.jobs), input.deps ? longestChain(left, input.deps) : 0);
}

/** The largest sum of time left along a dependency chain of unfinished steps (iterative: deep graphs). */
function longestChain(left: ReadonlyMap<string, number>, deps: ReadonlyMap<string, readonly string[]>): number {
  const chain = new Map<string, number>();
  let longest = 0;
  for (const start of left.keys()) {
    if (chain.has(start)) continue;
    const stack: { label: string; expanded: boolean }[] = [{ label: start, expanded: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (chain.has(top.label)) {
        stack.pop();
        continue;
      }
      const unfinished = (deps.get(top.label) ?? []).filter((dep) => left.has(dep));
      if (!top.expanded) {
        top.expanded = true;
        for (const dep of unfinished) if (!chain.has(dep)) stack.push({ label: dep, expanded: false });
        continue;
      }
      stack.pop();
      const below = unfinished.reduce((max, dep) => Math.max(max, chain.get(dep) ?? 0), 0);
      const total = below + left.get(top.label)!;
      chain.set(top.label, total);
      longest = Math.max(longest, total);
    }
  }
  return longest;
}

/** 1234 -> "1.2s", 75000 -> "1m15s". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, "0")}s`;
}
