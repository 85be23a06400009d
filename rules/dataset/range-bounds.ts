/**
 * The pure part of parsing a source in byte ranges (parallel-ranges.ts): where the ranges
 * start, whether each start is outside every quoted CSV field, and whether index values found in
 * separate ranges could repeat. Each answer errs towards "parse it in one pass" when unsure.
 */

/** Where range i of `parts` would start before it is moved to a line start: size * i / parts. */
export function tentativeStarts(size: number, parts: number): number[] {
  const starts: number[] = [];
  for (let i = 1; i < parts; i++) starts.push(Math.floor((size * i) / parts));
  return starts;
}

/**
 * Row groups [first, end) in at most `parts` contiguous runs of about equal rows: a run closes
 * once it holds its share of the rows still to place.
 */
export function groupRuns(groupRows: readonly number[], parts: number): { first: number; end: number }[] {
  const runs: { first: number; end: number }[] = [];
  let left = groupRows.reduce((sum, rows) => sum + rows, 0);
  let first = 0;
  let rows = 0;
  for (let g = 0; g < groupRows.length; g++) {
    rows += groupRows[g]!;
    const runsLeft = parts - runs.length;
    if (runsLeft > 1 && rows >= left / runsLeft) {
      runs.push({ first, end: g + 1 });
      left -= rows;
      first = g + 1;
      rows = 0;
    }
  }
  if (first < groupRows.length) runs.push({ first, end: groupRows.length });
  return runs;
}

/**
 * Counts `"` bytes as the file streams by, to say whether each range start (a line start) is
 * outside quotes. In RFC 4180 a quote opens or closes a field or comes doubled inside one, so
 * an even count of quotes before a position is outside every quoted field, and an odd count is
 * inside one (a field with a newline in it). A file that breaks the rule fails in some range's
 * parser or in the one-pass parse that follows an odd count; both report it the same way.
 */
export class QuoteParity {
  private quotes = 0;
  private position = 0;
  private next = 0;
  /** The first range start found inside quotes, if any. */
  insideQuotesAt: number | undefined;

  constructor(private readonly starts: readonly number[]) {}

  /** True once every start is judged: the rest of the file need not be counted. */
  get settled(): boolean {
    return this.next >= this.starts.length || this.insideQuotesAt !== undefined;
  }

  push(bytes: Uint8Array): void {
    let from = 0;
    while (!this.settled && this.starts[this.next]! <= this.position + bytes.length) {
      const cut = this.starts[this.next]! - this.position;
      this.quotes += countQuotes(bytes, from, cut);
      from = cut;
      if (this.quotes % 2 === 1) this.insideQuotesAt = this.starts[this.next];
      this.next++;
    }
    if (!this.settled) this.quotes += countQuotes(bytes, from, bytes.length);
    this.position += bytes.length;
  }
}

function countQuotes(bytes: Uint8Array, from: number, to: number): number {
  let count = 0;
  for (let at = bytes.indexOf(34, from); at !== -1 && at < to; at = bytes.indexOf(34, at + 1)) count++;
  return count;
}

/** Index values a range wrote, when they rose strictly from first to last; none if no rows. */
export type KeySpan = { first: number; last: number } | { first: string; last: string } | null;

/**
 * Follows one range's index values: strictly rising values of one type cannot repeat inside
 * the range, and a range's span then says everything another range needs to know. Any other
 * order (or a value neither a number nor a string) is `unordered`: the range gives up, and the
 * file is read in one pass, where every key is remembered.
 */
export class RisingKeys {
  private first: number | string | undefined;
  private last: number | string | undefined;
  unordered = false;

  /** Records the next row's value; false (and unordered from now on) if it does not rise. */
  add(value: unknown): boolean {
    if (this.unordered) return false;
    // Strictly greater, so -0 after 0 is no rise: the one pass would see them as one key ("0").
    const rises = this.last === undefined ? isKeyValue(value) : typeof value === typeof this.last && (value as number | string) > this.last;
    if (!rises) {
      this.unordered = true;
      return false;
    }
    this.first ??= value as number | string;
    this.last = value as number | string;
    return true;
  }

  span(): KeySpan {
    if (this.first === undefined) return null;
    return { first: this.first, last: this.last } as KeySpan;
  }
}

function isKeyValue(value: unknown): value is number | string {
  return (typeof value === "number" && Number.isFinite(value)) || typeof value === "string";
}

/**
 * Whether the ranges' spans, in file order, prove the index has no repeat across ranges: every
 * span of one type, each starting above where the one before ended. Otherwise a reason.
 */
export function spansOverlap(spans: readonly KeySpan[]): string | undefined {
  let previous: Exclude<KeySpan, null> | undefined;
  for (const span of spans) {
    if (span === null) continue;
    if (previous !== undefined) {
      if (typeof span.first !== typeof previous.last) return "index values of more than one type";
      if (!(span.first > previous.last)) return "index values that do not rise from one part of the file to the next";
    }
    previous = span;
  }
  return undefined;
}
