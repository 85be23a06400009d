/**
 * How each target last came out, across builds of any pattern: `.kiln/step-status.json`, label ->
 * status (executed, cached, failed), milliseconds and when. `kiln graph` colours nodes by it and
 * the progress display takes ETAs from it. A build merges its steps into what earlier builds
 * left, so building //a does not forget //b. Recomputable and optional: unreadable is empty.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { StepStatus } from "../events.js";
import { writeFileAtomic } from "./atomic-file.js";

export const STEP_STATUS_FILE = "step-status.json";

export interface StepRecord {
  status: StepStatus;
  /** How long it ran, when it executed; for cached steps, the last executed duration known. */
  ms: number;
  /** When the build that reported it finished (ms since the epoch). */
  at: number;
}

export function readStepStatuses(stateDir: string): Map<string, StepRecord> {
  try {
    const raw = JSON.parse(readFileSync(join(stateDir, STEP_STATUS_FILE), "utf8")) as Record<string, StepRecord>;
    return new Map(Object.entries(raw).filter(([, record]) => record && typeof record.status === "string" && typeof record.ms === "number"));
  } catch {
    return new Map();
  }
}

/** Merges this build's step results over the recorded ones and writes them back. */
export function recordStepStatuses(stateDir: string, steps: ReadonlyMap<string, { status: StepStatus; ms: number }>, at = Date.now()): void {
  if (steps.size === 0) return;
  const all = readStepStatuses(stateDir);
  for (const [label, { status, ms }] of steps) {
    const before = all.get(label);
    // A cache hit reports 0 ms; keep the last executed duration (what an ETA wants).
    all.set(label, { status, ms: status === "executed" ? ms : (before?.ms ?? ms), at });
  }
  const sorted = Object.fromEntries([...all].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  writeFileAtomic(join(stateDir, STEP_STATUS_FILE), JSON.stringify(sorted));
}
