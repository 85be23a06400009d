/**
 * What `kiln analyze-profile` says about a trace: the critical path (the chain of executed steps,
 * each waiting on the one before, whose durations sum highest: no -j would finish sooner than
 * it), the slowest steps, and time per kind of work. Pure: a parsed trace in, numbers out.
 */
import type { TraceFileShape } from "./trace-schema.js";

export interface StepSlice {
  label: string;
  ms: number;
  lane: string;
  deps: string[];
}

export interface ProfileAnalysis {
  wallMs: number;
  criticalPath: { label: string; ms: number }[];
  criticalMs: number;
  slowest: StepSlice[];
  /** Per category: slices and summed milliseconds. */
  categories: Record<string, { count: number; ms: number }>;
}

export function analyzeProfile(trace: TraceFileShape, slowestCount = 10): ProfileAnalysis {
  const laneNames = new Map<number, string>();
  for (const event of trace.traceEvents) {
    if (event.ph === "M" && event.name === "thread_name" && typeof event.args?.name === "string") laneNames.set(event.tid, event.args.name);
  }
  const steps = new Map<string, StepSlice>();
  const categories: Record<string, { count: number; ms: number }> = {};
  let first = Infinity;
  let last = 0;
  for (const event of trace.traceEvents) {
    if (event.ph !== "X") continue;
    const ms = (event.dur ?? 0) / 1000;
    first = Math.min(first, event.ts);
    last = Math.max(last, event.ts + (event.dur ?? 0));
    const category = event.cat ?? "other";
    const totals = (categories[category] ??= { count: 0, ms: 0 });
    totals.count++;
    totals.ms += ms;
    if (category !== "step") continue;
    const deps = Array.isArray(event.args?.deps) ? (event.args.deps as unknown[]).filter((d): d is string => typeof d === "string") : [];
    steps.set(event.name, { label: event.name, ms, lane: laneNames.get(event.tid) ?? `lane ${event.tid}`, deps });
  }
  // Longest path by summed duration, over executed steps only (a cached dependency took no time).
  const best = new Map<string, { ms: number; previous?: string }>();
  const visit = (label: string, visiting: Set<string>): number => {
    const known = best.get(label);
    if (known) return known.ms;
    const step = steps.get(label)!;
    let previous: string | undefined;
    let longest = 0;
    visiting.add(label);
    for (const dep of step.deps) {
      if (!steps.has(dep) || visiting.has(dep)) continue;
      const ms = visit(dep, visiting);
      if (ms > longest || (ms === longest && previous !== undefined && dep < previous)) {
        longest = ms;
        previous = dep;
      }
    }
    visiting.delete(label);
    const entry = { ms: longest + step.ms, ...(previous ? { previous } : {}) };
    best.set(label, entry);
    return entry.ms;
  };
  let end: string | undefined;
  for (const label of [...steps.keys()].sort()) {
    const ms = visit(label, new Set());
    if (end === undefined || ms > best.get(end)!.ms) end = label;
  }
  const criticalPath: { label: string; ms: number }[] = [];
  for (let at = end; at !== undefined; at = best.get(at)!.previous) criticalPath.unshift({ label: at, ms: steps.get(at)!.ms });
  const slowest = [...steps.values()].sort((a, b) => b.ms - a.ms || a.label.localeCompare(b.label)).slice(0, slowestCount);
  return {
    wallMs: last > first ? (last - first) / 1000 : 0,
    criticalPath,
    criticalMs: end ? best.get(end)!.ms : 0,
    slowest,
    categories,
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)}s`;

/** The analysis as the lines `kiln analyze-profile` prints. */
export function formatAnalysis(analysis: ProfileAnalysis): string[] {
  const lines = [`wall time ${seconds(analysis.wallMs)}`];
  if (analysis.criticalPath.length === 0) lines.push("critical path: no step executed (everything came from the cache)");
  else {
    lines.push(`critical path (${seconds(analysis.criticalMs)}, ${analysis.criticalPath.length} step${analysis.criticalPath.length === 1 ? "" : "s"}):`);
    for (const step of analysis.criticalPath) lines.push(`  ${seconds(step.ms).padStart(8)}  ${step.label}`);
  }
  if (analysis.slowest.length > 0) {
    lines.push(`slowest steps:`);
    for (const step of analysis.slowest) lines.push(`  ${seconds(step.ms).padStart(8)}  ${step.label}  (${step.lane})`);
  }
  const names: Record<string, string> = { load: "loading", analysis: "analysis", key: "key computation", lookup: "cache lookups", hash: "hashing large files", step: "steps" };
  const parts = Object.entries(analysis.categories)
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([category, { count, ms }]) => `${names[category] ?? category} ${seconds(ms)} (${count})`);
  if (parts.length > 0) lines.push(`time by kind (summed over lanes): ${parts.join(", ")}`);
  return lines;
}
