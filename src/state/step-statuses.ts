/**
 * How each target last came out, across builds of any pattern, for `kiln graph` (node status and
 * duration) and the progress display's ETA. Executions and failures are appended to
 * `.kiln/step-results.log`, one JSON line each (`{"l":label,"s":"e"|"f","ms":n,"at":t}`), so a
 * build pays for the steps that ran, not for the size of the workspace (a merged JSON file cost
 * ~25 ms a build at 10,000 targets). Cache hits are not logged: the last build's own record
 * (last-run.json) says which of its steps came from the cache. Recomputable and optional: an
 * unreadable line is skipped; a log grown past twice its labels is compacted when read.
 */
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { StepStatus } from "../events.js";
import { writeFileAtomic } from "./atomic-file.js";

export const STEP_LOG_FILE = "step-results.log";
/** Compact only logs at least this long. */
const COMPACT_ABOVE_LINES = 2000;

export interface StepRecord {
  status: StepStatus;
  /** Milliseconds of its last execution, 0 when never executed (or unknown). */
  ms: number;
  /** When it was recorded (ms since the epoch). */
  at: number;
}

interface LogLine {
  l: string;
  s: "e" | "f";
  ms: number;
  at: number;
}

/** Appends the executed and failed steps of a build. */
export function recordStepStatuses(stateDir: string, steps: ReadonlyMap<string, { status: StepStatus; ms: number }>, at = Date.now()): void {
  const lines: string[] = [];
  for (const [label, { status, ms }] of steps) {
    if (status === "cached") continue;
    lines.push(JSON.stringify({ l: label, s: status === "executed" ? "e" : "f", ms: Math.round(ms), at } satisfies LogLine));
  }
  if (lines.length > 0) appendFileSync(join(stateDir, STEP_LOG_FILE), `${lines.join("\n")}\n`);
}

/** The log folded: each label's latest outcome, with the duration of its latest execution. */
export function readStepStatuses(stateDir: string, options: { compact?: boolean } = {}): Map<string, StepRecord> {
  const file = join(stateDir, STEP_LOG_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return new Map();
  }
  const records = new Map<string, StepRecord>();
  let lines = 0;
  for (const line of text.split("\n")) {
    if (!line) continue;
    lines++;
    let entry: LogLine;
    try {
      entry = JSON.parse(line) as LogLine;
    } catch {
      continue; // a line torn by a crash
    }
    if (typeof entry.l !== "string" || typeof entry.ms !== "number") continue;
    const before = records.get(entry.l);
    records.set(entry.l, entry.s === "e" ? { status: "executed", ms: entry.ms, at: entry.at } : { status: "failed", ms: before?.ms ?? 0, at: entry.at });
  }
  if (options.compact && lines > COMPACT_ABOVE_LINES && lines > 2 * records.size) {
    // The executed duration of a label whose latest outcome failed is kept as an execution first.
    const out: string[] = [];
    for (const [label, record] of records) {
      if (record.ms > 0 && record.status === "failed") out.push(JSON.stringify({ l: label, s: "e", ms: record.ms, at: record.at }));
      out.push(JSON.stringify({ l: label, s: record.status === "executed" ? "e" : "f", ms: record.ms, at: record.at }));
    }
    writeFileAtomic(file, `${out.join("\n")}\n`);
  }
  return records;
}

/**
 * Each label's last outcome: the last build's steps (from its own record, which says what came
 * from the cache) over the log; a failure logged during or after the last build wins.
 */
export function lastOutcomes(
  logged: ReadonlyMap<string, StepRecord>,
  lastRun: { startedOn: string; steps: Record<string, { status: "executed" | "cached" }> } | undefined,
): Map<string, StepRecord> {
  const outcomes = new Map(logged);
  if (!lastRun) return outcomes;
  const started = Date.parse(lastRun.startedOn);
  for (const [label, { status }] of Object.entries(lastRun.steps)) {
    const before = logged.get(label);
    if (before?.status === "failed" && before.at >= started) continue;
    outcomes.set(label, { status, ms: before?.ms ?? 0, at: started });
  }
  return outcomes;
}
