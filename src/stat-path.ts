/**
 * stat(2) for the loops that stat every file of a workspace (the no-op check stats 20,000 paths
 * at 10,000 targets): size, mtime, inode and ctime without a fs.Stats object per call.
 *
 * fs.statSync validates its argument and builds a Stats of 18 fields around the numbers Node's
 * native binding fills in; calling the binding directly measured 50-63 ms against 67-87 ms for
 * statSync over 20,000 paths in a fresh process (the no-op build's case: nothing is warm yet).
 * The binding is Node's internal API, so it is used only after it gave exactly what statSync
 * gives for a file, a directory and a missing path, and never when deprecation warnings are
 * asked for (process.binding would print one); otherwise this falls back to statSync. Paths
 * statSync would refuse (a NUL byte: the binding would stat a truncated path) go to statSync.
 */
import { statSync } from "node:fs";

export interface PathStat {
  size: number;
  /** As fs.Stats#mtimeMs: the same float, so values compare equal with recorded ones. */
  mtimeMs: number;
  ino: number;
  /** As fs.Stats#ctimeMs. */
  ctimeMs: number;
  isDirectory: boolean;
  isFile: boolean;
}

/** Node's fs binding: `stat(path, useBigint, req, throwIfNoEntry)` fills and returns a shared Float64Array. */
type StatBinding = (path: string, useBigint: false, req: undefined, throwIfNoEntry: false) => Float64Array | undefined;

// Offsets in the binding's array (lib/internal/fs/utils.js, getStatsFromBinding); stat-batch.ts's
// worker reads the binding with the same ones.
export const BINDING_OFFSETS = { MODE: 1, INO: 7, SIZE: 8, MTIME_SEC: 12, MTIME_NSEC: 13, CTIME_SEC: 14, CTIME_NSEC: 15 } as const;
const { MODE, INO, SIZE, MTIME_SEC, MTIME_NSEC, CTIME_SEC, CTIME_NSEC } = BINDING_OFFSETS;
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;

const viaBinding = bindingStat();

/** The stat of `path` (following symlinks), or undefined if nothing is there. */
export const statPath: (path: string) => PathStat | undefined = viaBinding ?? statWithNodeFs;

/** Which way statPath works in this process (tests pin the fast one on the Node versions kiln supports). */
export const statPathMethod: "binding" | "statSync" = viaBinding ? "binding" : "statSync";

function statWithNodeFs(path: string): PathStat | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  return stats && { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, ctimeMs: stats.ctimeMs, isDirectory: stats.isDirectory(), isFile: stats.isFile() };
}

function bindingStat(): ((path: string) => PathStat | undefined) | undefined {
  const pendingDeprecation =
    process.execArgv.some((arg) => arg.includes("pending-deprecation")) ||
    (process.env.NODE_OPTIONS ?? "").includes("pending-deprecation") ||
    process.env.NODE_PENDING_DEPRECATION === "1";
  if (pendingDeprecation) return undefined;
  try {
    const stat = (process as unknown as { binding(name: string): { stat?: StatBinding } }).binding("fs").stat;
    if (typeof stat !== "function") return undefined;
    const fast = (path: string): PathStat | undefined => {
      if (path.includes("\0")) return statWithNodeFs(path);
      const values = stat(path, false, undefined, false);
      if (values === undefined) return undefined;
      return {
        size: values[SIZE]!,
        mtimeMs: values[MTIME_SEC]! * 1e3 + values[MTIME_NSEC]! / 1e6,
        ino: values[INO]!,
        ctimeMs: values[CTIME_SEC]! * 1e3 + values[CTIME_NSEC]! / 1e6,
        isDirectory: (values[MODE]! & S_IFMT) === S_IFDIR,
        isFile: (values[MODE]! & S_IFMT) === S_IFREG,
      };
    };
    // Trust it only if it agrees with statSync on a file (Node's own executable), a directory
    // and a missing path.
    for (const probe of [process.execPath, "/"]) {
      const expected = statWithNodeFs(probe);
      const got = fast(probe);
      if (!expected || !got || JSON.stringify(expected) !== JSON.stringify(got)) return undefined;
    }
    if (fast("/nonexistent-kiln-probe/x") !== undefined) return undefined;
    return fast;
  } catch {
    return undefined;
  }
}

