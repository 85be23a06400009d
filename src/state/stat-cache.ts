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

export class StatCache {
  private readonly entries = new Map<string, StatEntry>();
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
    for (let i = 0; i < paths.length; i++) {
      const at = IDENTITY_WIDTH * i;
      const identity: FileIdentity = [stats[at]!, stats[at + 1]!, stats[at + 2]!, stats[at + 3]!];
      this.entries.set(paths[i]!, { identity, digest: digests[i] as ContentDigest });
    }
    for (const [path, size, mtimeMs, ino, ctimeMs, digest] of entries) {
      if (size === undefined) this.entries.delete(path);
      else this.entries.set(path, { identity: [size, mtimeMs!, ino!, ctimeMs!], digest: digest as ContentDigest });
    }
  }

  /** The digest of the file at `path` if its stat still matches what was hashed, else undefined. */
  lookup(path: string, stat: FileStat): ContentDigest | undefined {
    const entry = this.entries.get(path);
    return entry && identityMatches(entry.identity, 0, stat) ? entry.digest : undefined;
  }

  /** The digest recorded for `path` with the identity it had then, if known. */
  entryOf(path: string): StatEntry | undefined {
    return this.entries.get(path);
  }

  /** The identity a file had when it was hashed, if known. */
  identityOf(path: string): FileIdentity | undefined {
    return this.entries.get(path)?.identity;
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
    if (this.entries.delete(path)) this.changed.add(path);
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
        const entry = this.entries.get(path);
        return entry ? [path, ...entry.identity, entry.digest] : [path];
      });
    const snapshot = (): Snapshot => {
      // The layout joins paths with newlines: a path holding one is left out (re-hashed next time).
      const paths = [...this.entries.keys()].filter((path) => !path.includes("\n"));
      const stats = new Float64Array(IDENTITY_WIDTH * paths.length);
      const digests: string[] = [];
      paths.forEach((path, i) => {
        const entry = this.entries.get(path)!;
        stats.set(entry.identity, IDENTITY_WIDTH * i);
        digests.push(entry.digest);
      });
      return { paths, stats, digests };
    };
    this.journal.save(this.changed.size, changes, snapshot);
    this.changed.clear();
  }
}
