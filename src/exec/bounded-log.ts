/**
 * A step's log, kept within a size: every line up to LOG_HALF bytes, then only the last LOG_HALF
 * bytes of lines, with a line saying how much was left out between them. The same bound as a
 * command's stdout and stderr (builder.ts): a step printing gigabytes costs its runner and kiln
 * about a megabyte, not gigabytes.
 */
const LOG_HALF = 512 * 1024;

export class BoundedLog {
  private readonly head: string[] = [];
  private headBytes = 0;
  /** Lines after the head; those before `tailStart` are dropped (compacted now and then). */
  private tail: string[] = [];
  private tailStart = 0;
  private tailBytes = 0;
  private omittedBytes = 0;

  add(line: string): void {
    // Lengths in UTF-16 units: close enough to bytes for a bound, and free to compute.
    const size = line.length + 1;
    if (this.omittedBytes === 0 && this.tail.length === this.tailStart && this.headBytes + size <= LOG_HALF) {
      this.head.push(line);
      this.headBytes += size;
      return;
    }
    this.tail.push(line.length > LOG_HALF ? line.slice(-LOG_HALF) : line);
    this.tailBytes += Math.min(size, LOG_HALF + 1);
    while (this.tailBytes > LOG_HALF && this.tailStart < this.tail.length - 1) {
      const dropped = this.tail[this.tailStart++]!;
      this.tailBytes -= dropped.length + 1;
      this.omittedBytes += dropped.length + 1;
    }
    if (this.tailStart > 4096 && this.tailStart * 2 > this.tail.length) {
      this.tail = this.tail.slice(this.tailStart);
      this.tailStart = 0;
    }
  }

  text(): string {
    const omitted = this.omittedBytes > 0 ? [`[kiln: ${this.omittedBytes} bytes of this step's log left out]`] : [];
    return [...this.head, ...omitted, ...this.tail.slice(this.tailStart)].join("\n");
  }
}
