/**
 * kiln.lock: what each source's content was when it was locked. JSON with sorted keys, two-space
 * indent and a final newline, holding nothing machine-specific (paths as written in WORKSPACE.ts),
 * so the same sources give the same bytes on any machine. Formatting and comparing are pure;
 * reading and writing the file are the two functions at the end.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { inputError } from "../errors.js";
import { canonicalJson } from "../key/canonical.js";
import { writeFileAtomic } from "../state/atomic-file.js";

export const LOCK_FILE = "kiln.lock";
export const LOCK_FORMAT = "kiln.lock/1";

export const lockEntrySchema = z.strictObject({
  kind: z.enum(["url", "path"]),
  /** The URL, or the path as WORKSPACE.ts writes it. */
  location: z.string(),
  /** A file's SHA-256; for a directory, the SHA-256 of its listing (path, sha256, size of each file). */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Bytes (all files of a directory). */
  size: z.number().int().nonnegative(),
  /** A directory's file count (absent for a single file). */
  files: z.number().int().nonnegative().optional(),
});
export type LockEntry = z.infer<typeof lockEntrySchema>;

export const lockFileSchema = z.strictObject({
  format: z.literal(LOCK_FORMAT),
  sources: z.record(z.string(), lockEntrySchema),
});
export type LockFile = z.infer<typeof lockFileSchema>;

/** The file's text: canonical (sorted keys), indented for review in a diff. */
export function formatLockFile(sources: Record<string, LockEntry>): string {
  const sorted = JSON.parse(canonicalJson({ format: LOCK_FORMAT, sources } as never)) as LockFile;
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

/** One way a source differs from the lock. */
export interface LockDrift {
  name: string;
  /** added: not in the lock; removed: in the lock, no longer declared; changed: content or location differ. */
  change: "added" | "removed" | "changed";
  locked?: LockEntry;
  current?: LockEntry;
}

/** Compares the current sources with the locked ones, by name, sorted. */
export function diffLock(locked: Record<string, LockEntry>, current: Record<string, LockEntry>): LockDrift[] {
  const names = [...new Set([...Object.keys(locked), ...Object.keys(current)])].sort();
  const drift: LockDrift[] = [];
  for (const name of names) {
    const before = locked[name];
    const after = current[name];
    if (!before) drift.push({ name, change: "added", current: after });
    else if (!after) drift.push({ name, change: "removed", locked: before });
    else if (canonicalJson(before as never) !== canonicalJson(after as never)) drift.push({ name, change: "changed", locked: before, current: after });
  }
  return drift;
}

/** One line for a drift, naming the source and both digests. */
export function describeDrift(drift: LockDrift): string {
  const show = (e: LockEntry) => `${e.kind} ${e.location} sha256 ${e.sha256} (${e.size} bytes${e.files !== undefined ? `, ${e.files} files` : ""})`;
  switch (drift.change) {
    case "added":
      return `@${drift.name}: not in ${LOCK_FILE} (now ${show(drift.current!)})`;
    case "removed":
      return `@${drift.name}: in ${LOCK_FILE} but no longer declared in WORKSPACE.ts`;
    case "changed":
      return `@${drift.name}: changed since ${LOCK_FILE}\n      locked: ${show(drift.locked!)}\n      now:    ${show(drift.current!)}`;
    default: {
      const unreachable: never = drift.change;
      return unreachable;
    }
  }
}

/** kiln.lock at `root`, or undefined when there is none; a malformed one is an input error. */
export function readLockFile(root: string): LockFile | undefined {
  let text: string;
  try {
    text = readFileSync(join(root, LOCK_FILE), "utf8");
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw inputError(`${LOCK_FILE} is not valid JSON (${(error as Error).message}); run kiln lock to write it again`, { file: LOCK_FILE, line: 1 });
  }
  const result = lockFileSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw inputError(`${LOCK_FILE}: ${issue.path.join(".") || "(top)"}: ${issue.message}; run kiln lock to write it again`, { file: LOCK_FILE, line: 1 });
  }
  return result.data;
}

export function writeLockFile(root: string, sources: Record<string, LockEntry>): void {
  writeFileAtomic(join(root, LOCK_FILE), formatLockFile(sources));
}
