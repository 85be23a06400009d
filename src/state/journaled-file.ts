/**
 * A state file kept as a snapshot (JSON unless a codec is given) plus an append-only log beside
 * it (`<file>.log`, one JSON value a line). Saving a few changes appends a few lines instead of
 * rewriting a snapshot of 20,000 entries (~50-70 ms at 10,000 targets); once the log has grown,
 * the next save writes a fresh snapshot and drops the log. A torn last line (a crash mid-append) is skipped on reading.
 * Appends from two kilns interleave by whole lines. Only for caches: an entry replayed over a
 * newer snapshot after a crash between snapshot and log removal must be harmless.
 */
import { appendFileSync, readFileSync, rmSync } from "node:fs";
import { writeFileAtomic } from "./atomic-file.js";

/** Past this many logged lines, a save writes a snapshot instead. */
const COMPACT_AFTER_LINES = 4000;

/** How a snapshot is stored; `decode` returns undefined (or throws) for bytes it does not recognise. */
export interface SnapshotCodec<Snapshot> {
  encode(snapshot: Snapshot): string | Uint8Array;
  decode(bytes: Buffer): Snapshot | undefined;
}

const JSON_SNAPSHOT = {
  encode: (snapshot: unknown) => JSON.stringify(snapshot),
  decode: (bytes: Buffer) => JSON.parse(bytes.toString("utf8")) as unknown,
};

export class JournaledFile<Snapshot, Entry> {
  /** Lines in the log as read plus appended by this process. */
  private loggedLines = 0;
  private snapshotExists = false;

  constructor(
    private readonly file: string,
    private readonly codec = JSON_SNAPSHOT as SnapshotCodec<Snapshot>,
  ) {}

  private get logFile(): string {
    return `${this.file}.log`;
  }

  /** The snapshot (if readable) and the log's entries after it, in order. */
  read(): { snapshot: Snapshot | undefined; entries: Entry[] } {
    let snapshot: Snapshot | undefined;
    try {
      snapshot = this.codec.decode(readFileSync(this.file));
    } catch {
      // missing or unreadable: state is a cache
    }
    this.snapshotExists = snapshot !== undefined;
    const entries: Entry[] = [];
    let text = "";
    try {
      text = readFileSync(this.logFile, "utf8");
    } catch {
      // no log
    }
    for (const line of text.split("\n")) {
      if (line.length === 0) continue;
      this.loggedLines++;
      try {
        entries.push(JSON.parse(line) as Entry);
      } catch {
        // a torn line
      }
    }
    return { snapshot, entries };
  }

  /**
   * Records the `count` changes since the last save: as log lines (`entries`), or, when a full
   * snapshot is due (none yet, or the log would grow past the limit), as `snapshot`. Both are
   * made only if needed: at 10,000 targets each is megabytes.
   */
  save(count: number, entries: () => readonly Entry[], snapshot: () => Snapshot): void {
    if (count === 0) return;
    if (!this.snapshotExists || this.loggedLines + count > COMPACT_AFTER_LINES) {
      writeFileAtomic(this.file, this.codec.encode(snapshot()));
      rmSync(this.logFile, { force: true });
      this.snapshotExists = true;
      this.loggedLines = 0;
      return;
    }
    appendFileSync(this.logFile, `${entries().map((entry) => JSON.stringify(entry)).join("\n")}\n`);
    this.loggedLines += count;
  }
}
