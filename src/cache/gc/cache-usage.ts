/**
 * The automatic trim's estimate of a cache's size, so a build can tell it is over the cap without
 * listing the store: `usage.json` holds the bytes gc last measured, and each build that stored
 * blobs adds what it stored. Concurrent builds may lose each other's additions (read, add,
 * rename): an estimate, corrected by every gc. A cache without one starts from what the build
 * stored (a cache an older kiln filled is undercounted until its first `kiln cache gc`): a
 * measuring gc after the first build of every fresh cache would cost every CI job and test a
 * process beside its build.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const USAGE_FILE = "usage.json";

export interface Usage {
  bytes: number;
  measuredAt: number;
}

function readUsage(dir: string): Usage | undefined {
  try {
    const usage = JSON.parse(readFileSync(join(dir, USAGE_FILE), "utf8")) as Usage;
    return typeof usage.bytes === "number" && typeof usage.measuredAt === "number" ? usage : undefined;
  } catch {
    return undefined;
  }
}

function writeUsage(dir: string, usage: Usage): void {
  const file = join(dir, USAGE_FILE);
  const temp = `${file}.tmp-${process.pid}`;
  writeFileSync(temp, JSON.stringify(usage));
  renameSync(temp, file);
}

/** gc measured the cache: the estimate starts again from there. */
export function recordMeasuredUsage(dir: string, bytes: number, now = Date.now()): void {
  writeUsage(dir, { bytes, measuredAt: now });
}

/** Adds a build's stored bytes; returns the new estimate. */
export function addUsage(dir: string, bytes: number): Usage {
  const usage = readUsage(dir) ?? { bytes: 0, measuredAt: 0 };
  if (bytes === 0) return usage;
  const next = { bytes: usage.bytes + bytes, measuredAt: usage.measuredAt };
  writeUsage(dir, next);
  return next;
}
