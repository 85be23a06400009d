/**
 * File digests remembered against the file's identity (size, mtime, inode, ctime: see
 * file-identity.ts): an unchanged file is never re-read, and touching a file without changing it
 * costs one stat and one hash, after which the new stat is remembered. A stat recorded too soon
 * after the file changed is racy and re-hashed next time. Persisted per workspace; a lost or stale
 * cache only costs re-hashing.
 */
import { statSync } from "node:fs";
import { type ContentDigest } from "../key/digest.js";
import { digestFileOfSize } from "../key/file-digest.js";
import { JournaledFile, type SnapshotCodec } from "./journaled-file.js";
import { decodeStamp, encodeStamp } from "./stamp-encoding.js";
import { statPath } from "../stat-path.js";
import { identityMatches, IDENTITY_WIDTH, recordIdentity, sameStat, type FileIdentity, type FileOwner, type FileStat } from "../key/file-identity.js";

interface StatEntry {
  identity: FileIdentity;
  digest: ContentDigest;
}

const FORMAT = "kiln.stat-cache/3";

/** The snapshot: parallel lists, identities as IDENTITY_WIDTH numbers a path. */
interface Snapshot {
  paths: string[];
  stats: ArrayLike<number>;
  digests: string[];
}

/**
 * The snapshot in the up-to-date stamp's binary layout (stamp-encoding.ts), whose stats table is
 * exactly this one's: at 10,000 targets (20,000 entries) the JSON form took ~44 ms to read and
 * parse on every build that is not a no-op; this one ~15 ms.
 */
const BINARY_SNAPSHOT: SnapshotCodec<Snapshot> = {
  encode: ({ paths, stats, digests }) => encodeStamp({ format: FORMAT }, paths, stats, digests, []),
  decode: (bytes) => {
    const decoded = decodeStamp<{ format?: string }>(bytes);
    if (decoded?.header.format !== FORMAT) return undefined;
    return { paths: decoded.paths, stats: decoded.stats, digests: decoded.digests() };
  },
};

/** A log line: [path, size, mtimeMs, ino, ctimeMs, digest], or `[path]` for a forgotten one. */
type LoggedEntry = [path: string, size: number, mtimeMs: number, ino: number, ctimeMs: number, digest: string] | [path: string];

/** Files at least this big get a slice of their own in a build's profile. */
export const LARGE_FILE_BYTES = 1024 * 1024;

/**
 * The snapshot as read, left in its tables: a path's entry is made only when asked for. At
 * 100,000 targets (~300,000 entries) making every entry (an object and an array each) when the
 * session opened cost ~0.2 s and a share of the garbage collector's work, while a one-leaf
 * rebuild asks for a few hundred.
 */
interface SnapshotTable {
  /** Path -> its row in `stats` and `digests`. */
  rows: Map<string, number>;
  stats: ArrayLike<number>;
  digests: string[];
}

export class StatCache {
  /** Entries remembered (or forgotten: null) since the snapshot was read, and those asked for; they override `table`. */
  private readonly entries = new Map<string, StatEntry | null>();
  private table?: SnapshotTable;
  /** Paths remembered or forgotten since the last save. */
  private readonly changed = new Set<string>();
  private readonly journal?: JournaledFile<Snapshot, LoggedEntry>;

  /** `clock` is Date.now but in tests of the racy rule. */
  constructor(file?: string, private readonly clock: () => number = Date.now) {
    if (!file) return;
    this.journal = new JournaledFile(file, BINARY_SNAPSHOT);
    const { snapshot, entries } = this.journal.read();
    if (!snapshot) return;
    const { paths, stats, digests } = snapshot;
    const rows = new Map<string, number>();
    for (let i = 0; i < paths.length; i++) rows.set(paths[i]!, i);
    this.table = { rows, stats, digests };
    for (const [path, size, mtimeMs, ino, ctimeMs, digest] of entries) {
      if (size === undefined) this.entries.set(path, null);
      else this.entries.set(path, { identity: [size, mtimeMs!, ino!, ctimeMs!], digest: digest as ContentDigest });
    }
  }

  /** The entry of `path`: remembered in this process, else from the snapshot's tables. */
  private entryAt(path: string): StatEntry | undefined {
    const entry = this.entries.get(path);
    if (entry !== undefined) return entry ?? undefined;
    const row = this.table?.rows.get(path);
    if (row === undefined) return undefined;
    const { stats, digests } = this.table!;
    const at = IDENTITY_WIDTH * row;
    return { identity: [stats[at]!, stats[at + 1]!, stats[at + 2]!, stats[at + 3]!], digest: digests[row] as ContentDigest };
  }

  /** The digest of the file at `path` if its stat still matches what was hashed, else undefined. */
  lookup(path: string, stat: FileStat): ContentDigest | undefined {
    const entry = this.entries.get(path);
    if (entry !== undefined) return entry && identityMatches(entry.identity, 0, stat) ? entry.digest : undefined;
    // Straight from the tables: no entry made for the common case, a file still as hashed.
    const row = this.table?.rows.get(path);
    if (row === undefined) return undefined;
    return identityMatches(this.table!.stats, IDENTITY_WIDTH * row, stat) ? (this.table!.digests[row] as ContentDigest) : undefined;
  }

  /** The digest recorded for `path` with the identity it had then, if known. */
  entryOf(path: string): StatEntry | undefined {
    return this.entryAt(path);
  }

  /**
   * The identity a file had when it was hashed, if known. Straight from the tables, without the
   * entry entryAt makes: an aggregator's sandbox asks this of each of its 100,000 inputs.
   */
  identityOf(path: string): FileIdentity | undefined {
    const entry = this.entries.get(path);
    if (entry !== undefined) return entry?.identity;
    const row = this.table?.rows.get(path);
    if (row === undefined) return undefined;
    const { stats } = this.table!;
    const at = IDENTITY_WIDTH * row;
    return [stats[at]!, stats[at + 1]!, stats[at + 2]!, stats[at + 3]!];
  }

  /** Remembers `digest` for a file stat'ed as `stat` no earlier than `statTakenAt` (see file-identity.ts). */
  remember(path: string, stat: FileStat, digest: ContentDigest, owner: FileOwner, statTakenAt = this.clock()): void {
    this.rememberIdentity(path, recordIdentity(stat, owner, statTakenAt), digest);
  }

  /** As `remember`, from an identity already known: a hard link to a file hashed before. */
  rememberIdentity(path: string, identity: FileIdentity, digest: ContentDigest): void {
    this.entries.set(path, { identity, digest });
    this.changed.add(path);
  }

  forget(path: string): void {
    if (this.entryAt(path) === undefined) return;
    this.entries.set(path, null);
    this.changed.add(path);
  }

  /** Every entry: the snapshot's rows not overridden, then those remembered since. */
  private *allEntries(): Generator<[string, StatEntry]> {
    if (this.table) {
      for (const [path, row] of this.table.rows) {
        if (this.entries.has(path)) continue;
        const at = IDENTITY_WIDTH * row;
        const { stats, digests } = this.table;
        yield [path, { identity: [stats[at]!, stats[at + 1]!, stats[at + 2]!, stats[at + 3]!], digest: digests[row] as ContentDigest }];
      }
    }
    for (const [path, entry] of this.entries) if (entry) yield [path, entry];
  }

  /** Told of each file of LARGE_FILE_BYTES or more this cache hashed (the build's profile). */
  onHashed?: (path: string, size: number, startMs: number, endMs: number) => void;

  /** The content digest of a regular file, hashing only when its identity changed. */
  async digest(path: string, owner: FileOwner = "user"): Promise<{ digest: ContentDigest; size: number }> {
    const statTakenAt = this.clock();
    // statSync only to throw its ENOENT for a missing file.
    const stat = statPath(path) ?? statSync(path);
    const known = this.lookup(path, stat);
    if (known) return { digest: known, size: stat.size };
    const hashStart = performance.now();
    const digest = await digestFileOfSize(path, stat.size);
    if (this.onHashed && stat.size >= LARGE_FILE_BYTES) this.onHashed(path, stat.size, hashStart, performance.now());
    // A file rewritten while we hashed it would pair new stats with old bytes: re-stat to be sure.
    if (sameStat(stat, statPath(path))) {
      this.remember(path, stat, digest, owner, statTakenAt);
    } else {
      this.forget(path);
    }
    return { digest, size: stat.size };
  }

  save(): void {
    if (!this.journal || this.changed.size === 0) return;
    const changes = () =>
      [...this.changed].map((path): LoggedEntry => {
        const entry = this.entryAt(path);
        return entry ? [path, ...entry.identity, entry.digest] : [path];
      });
    const snapshot = (): Snapshot => {
      // The layout joins paths with newlines: a path holding one is left out (re-hashed next time).
      const kept = [...this.allEntries()].filter(([path]) => !path.includes("\n"));
      const stats = new Float64Array(IDENTITY_WIDTH * kept.length);
      const paths: string[] = [];
      const digests: string[] = [];
      kept.forEach(([path, entry], i) => {
        stats.set(entry.identity, IDENTITY_WIDTH * i);
        paths.push(path);
        digests.push(entry.digest);
      });
      return { paths, stats, digests };
    };
    this.journal.save(this.changed.size, changes, snapshot);
    this.changed.clear();
  }
}
