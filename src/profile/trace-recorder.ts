/**
 * A build's profile as Chrome trace-event JSON (the format Bazel's and Turborepo's --profile
 * write; Perfetto and chrome://tracing open it). The build reports slices as they end
 * (events.ts Tracer); `toTrace` lays them out: each kind of work on lanes of its own, a slice on
 * the first lane of its kind free at its start, so steps run at once sit on as many "job" lanes
 * as jobs ran them (never more than -j) and no two slices of one lane overlap. Pure: no I/O.
 */
import type { TraceCategory, Tracer } from "../events.js";

export interface RecordedSpan {
  category: TraceCategory;
  name: string;
  startMs: number;
  endMs: number;
  args?: Record<string, unknown>;
}

/** One trace event: "X" a complete slice, "M" metadata (lane names). Times in microseconds. */
export interface TraceEvent {
  name: string;
  cat?: string;
  ph: "X" | "M";
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

export interface TraceFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ms";
  otherData: Record<string, string | number>;
}

/** Where each kind of slice goes: lanes numbered from `firstTid`, named `<lane> N`. */
const LANES: Record<TraceCategory, { lane: string; firstTid: number }> = {
  load: { lane: "main", firstTid: 0 },
  analysis: { lane: "main", firstTid: 0 },
  step: { lane: "job", firstTid: 1 },
  key: { lane: "keys", firstTid: 1000 },
  lookup: { lane: "cache lookups", firstTid: 2000 },
  hash: { lane: "hashing", firstTid: 3000 },
};

export class TraceRecorder implements Tracer {
  readonly spans: RecordedSpan[] = [];

  span(category: TraceCategory, name: string, startMs: number, endMs: number, args?: Record<string, unknown>): void {
    this.spans.push({ category, name, startMs, endMs, ...(args ? { args } : {}) });
  }
}

/** Lays the spans out on lanes; times relative to the earliest span (`origin`, ms). */
export function toTrace(spans: readonly RecordedSpan[], otherData: Record<string, string | number> = {}): TraceFile {
  const origin = spans.reduce((min, span) => Math.min(min, span.startMs), Infinity);
  const events: TraceEvent[] = [];
  const laneNames = new Map<number, string>();
  // Lanes per group: the end of each lane's last slice.
  const laneEnds = new Map<string, number[]>();
  const sorted = [...spans].sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs || a.name.localeCompare(b.name));
  for (const span of sorted) {
    const { lane, firstTid } = LANES[span.category];
    const ends = laneEnds.get(lane) ?? [];
    laneEnds.set(lane, ends);
    let index = lane === "main" ? 0 : ends.findIndex((end) => end <= span.startMs);
    if (index === -1) index = ends.push(span.endMs) - 1;
    else ends[index] = Math.max(ends[index] ?? 0, span.endMs);
    const tid = firstTid + (lane === "main" ? 0 : index);
    laneNames.set(tid, lane === "main" ? "main" : `${lane} ${index + 1}`);
    events.push({
      name: span.name,
      cat: span.category,
      ph: "X",
      ts: Math.round((span.startMs - origin) * 1000),
      dur: Math.max(0, Math.round((span.endMs - span.startMs) * 1000)),
      pid: 1,
      tid,
      ...(span.args ? { args: span.args } : {}),
    });
  }
  const metadata: TraceEvent[] = [{ name: "process_name", ph: "M", ts: 0, pid: 1, tid: 0, args: { name: "kiln build" } }];
  for (const [tid, name] of [...laneNames].sort((a, b) => a[0] - b[0])) {
    metadata.push({ name: "thread_name", ph: "M", ts: 0, pid: 1, tid, args: { name } });
    metadata.push({ name: "thread_sort_index", ph: "M", ts: 0, pid: 1, tid, args: { sort_index: tid } });
  }
  return { traceEvents: [...metadata, ...events], displayTimeUnit: "ms", otherData };
}
