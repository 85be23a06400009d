/**
 * File digests remembered against (size, mtime, inode): an unchanged file is never re-read, and
 * touching a file without changing it costs one stat and one hash, after which the new stat is
 * remembered. Persisted per workspace; a lost or stale cache only costs re-hashing.
 */
import { statSync } from "node:fs";
import { digestFileOfSize, type ContentDigest } from "./digest.js";
import { JournaledFile, type SnapshotCodec } from "../state/journaled-file.js";
import { decodeStamp, encodeStamp } from "../state/stamp-encoding.js";
import { statPath } from "../stat-path.js";

interface StatEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  digest: ContentDigest;
}

/** What `lookup` compares: a fs.Stats or a PathStat (stat-path.ts) will do. */
export interface FileIdentity {
  size: number;
  mtimeMs: number;
  ino: number;
}

const FORMAT = "kiln.stat-cache/2";

/** The snapshot: parallel lists, stats as 3 numbers a path (size, mtimeMs, ino). */
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

/** A log line: [path, size, mtimeMs, ino, digest], or `[path]` for a forgotten one. */
type LoggedEntry = [path: string, size: number, mtimeMs: number, ino: number, digest: string] | [path: string];

export class StatCache {
  private readonly entries = new Map<string, StatEntry>();
  /** Paths remembered or forgotten since the last save. */
  private readonly changed = new Set<string>();
  private readonly journal?: JournaledFile<Snapshot, LoggedEntry>;

  constructor(file?: string) {
    if (!file) return;
    this.journal = new JournaledFile(file, BINARY_SNAPSHOT);
    const { snapshot, entries } = this.journal.read();
    if (!snapshot) return;
    const { paths, stats, digests } = snapshot;
    for (let i = 0; i < paths.length; i++) {
      const [size, mtimeMs, ino] = [stats[3 * i]!, stats[3 * i + 1]!, stats[3 * i + 2]!];
      this.entries.set(paths[i]!, { size, mtimeMs, ino, digest: digests[i] as ContentDigest });
    }
    for (const [path, size, mtimeMs, ino, digest] of entries) {
      if (size === undefined) this.entries.delete(path);
      else this.entries.set(path, { size, mtimeMs: mtimeMs!, ino: ino!, digest: digest as ContentDigest });
    }
  }

  /** The digest of the file at `path` if its stat still matches what was hashed, else undefined. */
  lookup(path: string, stats: FileIdentity): ContentDigest | undefined {
    const entry = this.entries.get(path);
    if (entry && entry.size === stats.size && entry.mtimeMs === stats.mtimeMs && entry.ino === stats.ino) {
      return entry.digest;
    }
    return undefined;
  }

  /** The digest recorded for `path` with the stat it had then, if known. */
  entryOf(path: string): { stat: [size: number, mtimeMs: number, ino: number]; digest: ContentDigest } | undefined {
    const entry = this.entries.get(path);
    return entry ? { stat: [entry.size, entry.mtimeMs, entry.ino], digest: entry.digest } : undefined;
  }

  /** The (size, mtime, inode) a file had when it was hashed, if known. */
  statOf(path: string): [size: number, mtimeMs: number, ino: number] | undefined {
    const entry = this.entries.get(path);
    return entry ? [entry.size, entry.mtimeMs, entry.ino] : undefined;
  }

  remember(path: string, stats: FileIdentity, digest: ContentDigest): void {
    this.entries.set(path, { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, digest });
    this.changed.add(path);
  }

  /** As `remember`, from a (size, mtime, inode) already known: a hard link to a file hashed before. */
  rememberStat(path: string, [size, mtimeMs, ino]: [number, number, number], digest: ContentDigest): void {
    this.entries.set(path, { size, mtimeMs, ino, digest });
    this.changed.add(path);
  }

  forget(path: string): void {
    if (this.entries.delete(path)) this.changed.add(path);
  }

  /** The content digest of a regular file, hashing only when its stat changed. */
  async digest(path: string): Promise<{ digest: ContentDigest; size: number }> {
    // statSync only to throw its ENOENT for a missing file.
    const stats = statPath(path) ?? statSync(path);
    const known = this.lookup(path, stats);
    if (known) return { digest: known, size: stats.size };
    const digest = await digestFileOfSize(path, stats.size);
    // A file rewritten while we hashed it would pair new stats with old bytes: re-stat to be sure.
    const after = statPath(path) ?? statSync(path);
    if (after.size === stats.size && after.mtimeMs === stats.mtimeMs && after.ino === stats.ino) {
      this.remember(path, stats, digest);
    }
    return { digest, size: stats.size };
  }

  save(): void {
    if (!this.journal || this.changed.size === 0) return;
    const changes = () =>
      [...this.changed].map((path): LoggedEntry => {
        const entry = this.entries.get(path);
        return entry ? [path, entry.size, entry.mtimeMs, entry.ino, entry.digest] : [path];
      });
    const snapshot = (): Snapshot => {
      // The layout joins paths with newlines: a path holding one is left out (re-hashed next time).
      const paths = [...this.entries.keys()].filter((path) => !path.includes("\n"));
      const stats = new Float64Array(3 * paths.length);
      const digests: string[] = [];
      paths.forEach((path, i) => {
        const entry = this.entries.get(path)!;
        stats[3 * i] = entry.size;
        stats[3 * i + 1] = entry.mtimeMs;
        stats[3 * i + 2] = entry.ino;
        digests.push(entry.digest);
      });
      return { paths, stats, digests };
    };
    this.journal.save(this.changed.size, changes, snapshot);
    this.changed.clear();
  }
}
