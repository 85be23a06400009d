/** Writes validated rows as JSON Lines, a batch at a time, waiting for the disk when it lags. */
import { createWriteStream, type WriteStream } from "node:fs";
import type { Row } from "./text-rows.js";

export class JsonlSink {
  private readonly stream: WriteStream;
  rows = 0;

  constructor(path: string) {
    // 4 MiB of buffered text before waiting: with the default 16 KiB every batch (~40 KB) waited
    // for its write to finish, and parsing stood idle meanwhile (0.7 s of a 1M-row CSV).
    this.stream = createWriteStream(path, { highWaterMark: 1 << 22 });
  }

  async write(rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return;
    let text = "";
    for (const row of rows) text += JSON.stringify(row) + "\n";
    this.rows += rows.length;
    if (!this.stream.write(text)) await new Promise<void>((resolve) => this.stream.once("drain", resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.once("error", reject);
      this.stream.end(() => resolve());
    });
  }
}
