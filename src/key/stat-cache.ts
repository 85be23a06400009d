/**
 * File digests remembered against (size, mtime, inode): an unchanged file is never re-read, and
 * touching a file without changing it costs one stat and one hash, after which the new stat is
 * remembered. Persisted per workspace; a lost or stale cache only costs re-hashing.
 */
import { readFileSync, statSync, type Stats } from "node:fs";
import { digestBytes, digestFile, type ContentDigest } from "./digest.js";
import { JournaledFile } from "../state/journaled-file.js";

interface StatEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  digest: ContentDigest;
}

const FORMAT = "kiln.stat-cache/1";

type SavedEntry = [path: string, size: number, mtimeMs: number, ino: number, digest: string];
/** A log line: an entry, or `[path]` for a forgotten one. */
type LoggedEntry = SavedEntry | [path: string];
/** Files up to this size are read whole and hashed in one call (faster than streaming). */
const WHOLE_READ_LIMIT = 8 << 20;

export class StatCache {
  private readonly entries = new Map<string, StatEntry>();
  /** Paths remembered or forgotten since the last save. */
  private readonly changed = new Set<string>();
  private readonly journal?: JournaledFile<{ format: string; entries: SavedEntry[] }, LoggedEntry>;

  constructor(file?: string) {
    if (!file) return;
    this.journal = new JournaledFile(file);
    const { snapshot, entries } = this.journal.read();
    if (snapshot?.format !== FORMAT) return;
    for (const [path, size, mtimeMs, ino, digest] of [...snapshot.entries, ...entries]) {
      if (size === undefined) this.entries.delete(path);
      else this.entries.set(path, { size, mtimeMs: mtimeMs!, ino: ino!, digest: digest as ContentDigest });
    }
  }

  /** The digest of the file at `path` if its stat still matches what was hashed, else undefined. */
  lookup(path: string, stats: Stats): ContentDigest | undefined {
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

  remember(path: string, stats: Stats, digest: ContentDigest): void {
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
    const stats = statSync(path);
    const known = this.lookup(path, stats);
    if (known) return { digest: known, size: stats.size };
    const digest =
      stats.size <= WHOLE_READ_LIMIT ? digestBytes(readFileSync(path)) : (await digestFile(path)).digest;
    // A file rewritten while we hashed it would pair new stats with old bytes: re-stat to be sure.
    const after = statSync(path);
    if (after.size === stats.size && after.mtimeMs === stats.mtimeMs && after.ino === stats.ino) {
      this.remember(path, stats, digest);
    }
    return { digest, size: stats.size };
  }

  save(): void {
    if (!this.journal || this.changed.size === 0) return;
    const asSaved = (path: string, e: StatEntry): SavedEntry => [path, e.size, e.mtimeMs, e.ino, e.digest];
    const changes = () =>
      [...this.changed].map((path): LoggedEntry => {
        const entry = this.entries.get(path);
        return entry ? asSaved(path, entry) : [path];
      });
    this.journal.save(this.changed.size, changes, () => ({ format: FORMAT, entries: [...this.entries].map(([path, e]) => asSaved(path, e)) }));
    this.changed.clear();
  }
}
