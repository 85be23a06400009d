/**
 * Which index values a dataset has used, to refuse a repeated one, in memory that does not grow
 * with the row count in the common case: ids that count up (1, 2, 3... or any ascending
 * integers with runs) are held as runs [first, last, row of first]. Keys in any other order
 * fall back to a map of every key, which is what uniqueness costs without an order.
 */
export class IndexKeys {
  /** Ascending runs of consecutive integers, each taken by consecutive rows: [lo, hi, row of lo]. */
  private runs: number[] = [];
  /** Every key by its first row, once keys stopped ascending (or are not integers). */
  private seen: Map<string, number> | undefined;

  /** The row that already used `value`, or undefined (and `value` is now recorded for `row`). */
  claim(value: unknown, row: number): number | undefined {
    if (this.seen === undefined && typeof value === "number" && Number.isSafeInteger(value)) {
      const runs = this.runs;
      const last = runs.length - 3;
      if (last < 0 || value > runs[last + 1]!) {
        if (last >= 0 && value === runs[last + 1]! + 1 && row === runs[last + 2]! + (runs[last + 1]! - runs[last]!) + 1) runs[last + 1] = value;
        else runs.push(value, value, row);
        return undefined;
      }
      const used = this.findInRuns(value);
      if (used !== undefined) return used;
    }
    const seen = (this.seen ??= this.expandRuns());
    const key = typeof value === "string" ? `s${value}` : `j${JSON.stringify(value)}`;
    const first = seen.get(key);
    if (first !== undefined) return first;
    seen.set(key, row);
    return undefined;
  }

  private findInRuns(value: number): number | undefined {
    const runs = this.runs;
    let low = 0;
    let high = runs.length / 3 - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const lo = runs[mid * 3]!;
      const hi = runs[mid * 3 + 1]!;
      if (value < lo) high = mid - 1;
      else if (value > hi) low = mid + 1;
      else return runs[mid * 3 + 2]! + (value - lo);
    }
    return undefined;
  }

  private expandRuns(): Map<string, number> {
    const seen = new Map<string, number>();
    for (let i = 0; i < this.runs.length; i += 3) {
      const [lo, hi, row] = [this.runs[i]!, this.runs[i + 1]!, this.runs[i + 2]!];
      for (let v = lo; v <= hi; v++) seen.set(`j${v}`, row + (v - lo));
    }
    this.runs = [];
    return seen;
  }
}
