/**
 * The no-op fast path. After a successful build, kiln records the identity (size, mtime, inode,
 * ctime: see key/file-identity.ts, racy records included) of
 * every file and directory the result depends on: BUILD.ts files and what they import, the
 * directories of the tree (a file added or removed changes one), step modules and their imports,
 * every source input, and every output in kiln-out; plus the values of passed-through env vars.
 * The next identical request that finds all of them unchanged is up to date: it prints the
 * recorded result without loading the graph, hashing, computing keys or opening the store.
 * A file whose stat changed but whose bytes did not (a touch, a save without edits) is re-hashed
 * and forgiven, and so is a directory whose mtime moved but whose entries did not (kiln making
 * kiln-out/ at the root); the stamp is updated. Any other difference, or any doubt (a tool whose version
 * cannot be known by stat), takes the normal path, which is always correct.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { digestBytes } from "../key/digest.js";
import { statPath } from "../stat-path.js";
import { statPaths } from "../stat-batch.js";
import { REHASH_LIMIT } from "../size-thresholds.js";
import { CTIME_NOT_COMPARED, identityMatches, IDENTITY_WIDTH, sameStat, recordDirectoryMtime, recordIdentity, type FileIdentity } from "../key/file-identity.js";
import { currentListingDigest } from "../workspace/discover.js";
import { writeFileAtomic } from "./atomic-file.js";
import { decodeStamp, encodeStamp, patchStamp, type DecodedStamp, type StampRow } from "./stamp-encoding.js";

const FORMAT = "kiln.up-to-date/4";
/** In `stats`, a size of -1 means "compare the mtime only" (directories). */
const MTIME_ONLY = -1;

export interface UpToDateRecord {
  /** Labels and keys of the steps built, in the order they finished. */
  steps: { label: string; key: string }[];
  /** Absolute paths of the requested targets' outputs, for the listing before the summary. */
  requestedOutputs: string[];
}

/** The stamp's header; paths, stats, digests and steps follow it (see stamp-encoding.ts). */
interface StampHeader {
  format: typeof FORMAT;
  kilnVersion: string;
  request: string;
  env: Record<string, string | null>;
  requestedOutputs: string[];
}

/** What is recorded of one path: its identity and, for files, its content digest. */
export interface RecordedFile {
  stamp: FileIdentity;
  digest?: string;
}

/** Marks a directory's recorded "digest" as the digest of its listing. */
export const LISTING_PREFIX = "ls:";


/** The request an up-to-date stamp answers: what was asked, in which workspace (patterns as parsed). */
export function requestIdentity(root: string, mode: "build" | "test", patterns: readonly object[]): string {
  return JSON.stringify({ root, mode, patterns: patterns.map((p) => JSON.stringify(p)).sort() });
}

/**
 * The stamp of a request. Named by a cheap string hash, not SHA-256: node:crypto would cost the
 * no-op path ~4 ms to load. Two requests with the same name only overwrite each other's stamp
 * (the header names the request, so the check never answers for the wrong one).
 */
export function stampFile(stateDir: string, request: string): string {
  return join(stateDir, "up-to-date", `${stringHash(request)}.stamp`);
}

/** 53 bits of a string (cyrb53, public domain), as 14 hex digits: a file name, not a digest. */
function stringHash(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0");
}

export function writeUpToDateStamp(
  file: string,
  kilnVersion: string,
  request: string,
  env: Record<string, string | null>,
  files: Map<string, RecordedFile>,
  record: UpToDateRecord,
): void {
  const paths = [...files.keys()];
  const stats = paths.flatMap((path) => files.get(path)!.stamp);
  // Content digests, one a path ("" for a directory without a listing), to forgive a mere touch.
  const digests = paths.map((path) => files.get(path)!.digest ?? "");
  const header: StampHeader = { format: FORMAT, kilnVersion, request, env, requestedOutputs: record.requestedOutputs };
  writeFileAtomic(file, encodeStamp(header, paths, stats, digests, record.steps));
}

/**
 * What a stamp check found when something had changed: the recorded steps and the paths whose
 * content (or existence) differs. The normal build path takes it (from `checkUpToDateStamp`) to skip
 * re-keying targets nothing of which changed.
 */
export interface StampChanges {
  steps: { label: string; key: string }[];
  /** Absolute paths recorded in the stamp that are missing or whose bytes changed. */
  changed: Set<string>;
  /**
   * Writes the stamp again after a build of the same graph, re-recording only `refresh` (the
   * files of the targets that were re-keyed, and the changed paths) with `recordOf`; the rest
   * of the 20,000 entries stand as checked. Cheaper than recording everything anew.
   */
  rewrite(refresh: ReadonlySet<string>, recordOf: (path: string) => RecordedFile | undefined, steps: { label: string; key: string }[]): void;
}

/**
 * What checking a stamp found: `upToDate` when nothing the result depends on changed; else, when
 * only recorded files changed, `changes` (the build takes them to re-key only what changed).
 * Neither: no stamp, or one that cannot answer (another request, kiln version or environment).
 */
export interface StampCheck {
  upToDate?: UpToDateRecord;
  changes?: StampChanges;
}

/**
 * A stamp a resident caller (watch mode) patched and wrote, kept decoded with its steps for its
 * next check: at 100,000 targets, reading the 35 MB file and decoding its paths and steps again
 * made ~100 MB of strings and objects a rebuild. Taken once: a check changes what it checks (the
 * forgiven stats), and only a rewrite that wrote exactly these bytes keeps them again.
 *
 * Even a stamp some other kiln wrote meanwhile would not make the kept one wrong: what a stamp
 * records are facts about files when a result was built, and the check stats every file again.
 * Still, the kept stamp is used only while the file is the one this process wrote (same size,
 * mtime, inode and ctime), so that the process reads what any other reader would.
 */
export class KeptStamp {
  private kept?: { file: string; stamp: DecodedStamp<StampHeader>; steps: { label: string; key: string }[]; identity: readonly number[] };

  keep(file: string, stamp: DecodedStamp<StampHeader>, steps: { label: string; key: string }[]): void {
    const now = statPath(file);
    this.kept = now ? { file, stamp, steps, identity: [now.size, now.mtimeMs, now.ino, now.ctimeMs] } : undefined;
  }

  take(file: string): { stamp: DecodedStamp<StampHeader>; steps: { label: string; key: string }[] } | undefined {
    const kept = this.kept;
    this.kept = undefined;
    if (kept?.file !== file) return undefined;
    const now = statPath(file);
    const [size, mtimeMs, ino, ctimeMs] = kept.identity;
    return now && now.size === size && now.mtimeMs === mtimeMs && now.ino === ino && now.ctimeMs === ctimeMs ? kept : undefined;
  }
}

/**
 * `changesWhenUpToDate`: a resident caller (watch mode) that builds anyway gets `changes` with an
 * empty `changed` set too, so its build re-keys nothing and rewrites the stamp the cheap way.
 * `kept`: that caller's stamp kept decoded between its checks (see KeptStamp).
 */
export function checkUpToDateStamp(
  file: string,
  kilnVersion: string,
  request: string,
  env: NodeJS.ProcessEnv,
  { changesWhenUpToDate = false, kept }: { changesWhenUpToDate?: boolean; kept?: KeptStamp } = {},
): StampCheck {
  let stamp: DecodedStamp<StampHeader> | undefined;
  const taken = kept?.take(file);
  try {
    stamp = taken?.stamp ?? decodeStamp<StampHeader>(readFileSync(file));
  } catch {
    return {};
  }
  if (!stamp) return {};
  const { header, paths, stats } = stamp;
  if (header.format !== FORMAT || header.kilnVersion !== kilnVersion || header.request !== request) return {};
  for (const [name, value] of Object.entries(header.env)) if ((env[name] ?? null) !== value) return {};
  let digests: string[] | undefined;
  let touched = false;
  const changed = new Set<string>();
  // Read before the stats: forgiven records taken now are racy if the file changed just before.
  const checkedAt = Date.now();
  // All at once (on two threads when there are many: stat-batch.ts), then judged in order.
  const current = statPaths(paths);
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    const at = IDENTITY_WIDTH * i;
    const now = current[i];
    if (!now) {
      changed.add(path);
      continue;
    }
    const size = stats[at]!;
    if (size === MTIME_ONLY ? now.mtimeMs === stats[at + 1] : identityMatches(stats, at, now)) continue;
    // Touched, or rewritten with the same bytes: still up to date if the content is unchanged.
    // A directory whose mtime moved is unchanged if it lists the same entries (see discover.ts).
    digests ??= stamp.digests();
    const digest = digests[i];
    const same =
      size === MTIME_ONLY
        ? digest?.startsWith(LISTING_PREFIX) && currentListingDigest(path) === digest.slice(LISTING_PREFIX.length)
        : digest && now.size === size && now.size <= REHASH_LIMIT && digestBytes(readFileSync(path)) === digest && sameStat(now, statPath(path));
    if (!same) {
      changed.add(path);
      continue;
    }
    if (size === MTIME_ONLY) stats[at + 1] = recordDirectoryMtime(now.mtimeMs, checkedAt);
    else stats.set(recordIdentity(now, stats[at + 3] === CTIME_NOT_COMPARED ? "kiln" : "user", checkedAt), at);
    touched = true;
  }
  if (changed.size > 0 || changesWhenUpToDate) {
    const rewrite: StampChanges["rewrite"] = (refresh, recordOf, steps) => {
      const newHeader: StampHeader = { format: FORMAT, kilnVersion, request, env: header.env, requestedOutputs: header.requestedOutputs };
      // Each re-recorded row once, by its index (undefined: the file is gone).
      const records = new Map<number, RecordedFile | undefined>();
      for (let i = 0; i < paths.length; i++) if (refresh.has(paths[i]!)) records.set(i, recordOf(paths[i]!));
      // The usual case, a few files re-recorded and every path still there: patched in place.
      const rows: StampRow[] = [];
      for (const [index, record] of records) if (record) rows.push({ index, stats: record.stamp, digest: record.digest ?? "" });
      if (rows.length === records.size && patchStamp(stamp, newHeader, rows, steps)) {
        writeFileAtomic(file, stamp.bytes);
        // Its paths, header and layout are the file's still; its stats, digests and steps are
        // views of the patched bytes, and `steps` is what they now say.
        kept?.keep(file, stamp, [...steps]);
        return;
      }
      // Straight from the checked tables to the new ones: at 100,000 targets a Map of 200,000
      // records (an object and an array each) made this rewrite ~0.85 s, mostly allocation.
      const recorded = (digests ??= stamp.digests());
      const keptPaths: string[] = [];
      const keptDigests: string[] = [];
      const keptStats = new Float64Array(stats.length);
      for (let i = 0; i < paths.length; i++) {
        const path = paths[i]!;
        const at = IDENTITY_WIDTH * keptPaths.length;
        if (records.has(i)) {
          const record = records.get(i);
          if (!record) continue; // gone: no longer recorded
          keptStats.set(record.stamp, at);
          keptDigests.push(record.digest ?? "");
        } else {
          for (let k = 0; k < IDENTITY_WIDTH; k++) keptStats[at + k] = stats[IDENTITY_WIDTH * i + k]!;
          keptDigests.push(recorded[i] ?? "");
        }
        keptPaths.push(path);
      }
      writeFileAtomic(file, encodeStamp(newHeader, keptPaths, keptStats.subarray(0, IDENTITY_WIDTH * keptPaths.length), keptDigests, steps));
    };
    const changes = { steps: taken?.steps ?? stamp.steps(), changed, rewrite };
    if (changed.size > 0) return { changes };
    // Up to date, and the caller builds anyway: the forgiven stats are saved by its rewrite.
    return { upToDate: { steps: changes.steps, requestedOutputs: header.requestedOutputs }, changes };
  }
  // The stats are a view into the file's bytes: the forgiven ones are already updated there.
  if (touched) writeFileAtomic(file, stamp.bytes);
  return { upToDate: { steps: taken?.steps ?? stamp.steps(), requestedOutputs: header.requestedOutputs } };
}

/** A directory's record: its mtime only (NaN when too recent to trust: see recordDirectoryMtime). */
export function directoryStamp(mtimeMs: number): FileIdentity {
  return [MTIME_ONLY, mtimeMs, MTIME_ONLY, MTIME_ONLY];
}
