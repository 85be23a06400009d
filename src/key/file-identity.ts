/**
 * When kiln may take a file as unchanged without reading it. A recorded identity is
 * (size, mtime, inode, ctime): size + mtime + inode alone cannot tell a same-size rewrite whose
 * mtime was put back (`cp -p`, `rsync -t`, `tar x` restore it to the nanosecond), while ctime
 * cannot be set from user space and moves on every write (Bazel's file-digest cache keys on it
 * for this reason).
 *
 * Timestamps come from a coarse clock, so a write in the same tick as the stat that recorded a
 * file leaves every field as recorded. Git's racy-clean rule answers that: a stat recorded less
 * than RACY_WINDOW_MS after the file last changed is marked racy and never matches, so the file
 * is read again next time (and recorded for good once it has been still for long enough).
 *
 * kiln's own read-only files (blobs in the cache, their links in kiln-out) are recorded without
 * ctime: kiln itself moves their ctime whenever it links one into a sandbox or kiln-out, and
 * nothing but kiln writes them (their bytes are checked against their digest where it matters).
 *
 * Pure: numbers in, numbers out.
 */

/** Longer than any file system's timestamp granularity kiln may meet (ext4: a clock tick; ext3, HFS+: 1 s). */
export const RACY_WINDOW_MS = 2000;

/** The ctime slot of a kiln-owned file: ctime is not compared. */
export const CTIME_NOT_COMPARED = -1;

/** The ctime slot of a racy record: it matches no stat, so the file is read again. */
export const CTIME_RACY = -2;

/** Numbers recorded per file, in this order. */
export const IDENTITY_WIDTH = 4;

/** A file's identity as recorded: [size, mtimeMs, inode, ctimeMs or one of the markers above]. */
export type FileIdentity = [size: number, mtimeMs: number, ino: number, ctimeMs: number];

/** What a stat gives (a fs.Stats or a PathStat will do). */
export interface FileStat {
  size: number;
  mtimeMs: number;
  ino: number;
  ctimeMs: number;
}

/** Who writes a file: the user (compared with ctime, racy rule) or kiln alone (see the module comment). */
export type FileOwner = "user" | "kiln";

/**
 * The identity to record for a stat taken no earlier than `statTakenAt` (Date.now() read just
 * before the stat: an earlier reading only makes more records racy, never fewer).
 */
export function recordIdentity(stat: FileStat, owner: FileOwner, statTakenAt: number): FileIdentity {
  if (owner === "kiln") return [stat.size, stat.mtimeMs, stat.ino, CTIME_NOT_COMPARED];
  const racy = statTakenAt - Math.max(stat.mtimeMs, stat.ctimeMs) < RACY_WINDOW_MS;
  return [stat.size, stat.mtimeMs, stat.ino, racy ? CTIME_RACY : stat.ctimeMs];
}

/** True when `now` is the file recorded as `recorded` (numbers at `at` in a flat table). */
export function identityMatches(recorded: ArrayLike<number>, at: number, now: FileStat): boolean {
  const ctime = recorded[at + 3]!;
  return (
    recorded[at] === now.size &&
    recorded[at + 1] === now.mtimeMs &&
    recorded[at + 2] === now.ino &&
    (ctime === CTIME_NOT_COMPARED || ctime === now.ctimeMs)
  );
}

/** True when two stats of one path show the same file, unchanged between them. */
export function sameStat(a: FileStat | undefined, b: FileStat | undefined): boolean {
  return a !== undefined && b !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino && a.ctimeMs === b.ctimeMs;
}

/**
 * A directory's mtime to record, for checks that list the directory again when its mtime moved:
 * NaN (never equal, so always listed again) when it is too recent to be trusted.
 */
export function recordDirectoryMtime(mtimeMs: number, statTakenAt: number): number {
  return statTakenAt - mtimeMs < RACY_WINDOW_MS ? Number.NaN : mtimeMs;
}
