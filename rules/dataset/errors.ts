/**
 * How a dataset says what is wrong with the data: a DatasetError names where (row, line,
 * column, field), and a ProblemLog collects row problems up to a limit so one run reports a
 * count and a sample rather than the first problem alone.
 */
import type { z } from "zod";

/** A user's data does not parse or does not fit its schema. The message says where. */
export class DatasetError extends Error {
  override name = "DatasetError";
  /** The step runner reports this failure as the input's (exit 2), not the step's code's. */
  readonly kilnFault = "input";
}

/**
 * Problems found so far. Reading stops at `limit` problems (the data is wrong in some
 * systematic way by then; reading on would only cost time), and the report shows the first few.
 */
export class ProblemLog {
  readonly sample: string[] = [];
  count = 0;

  constructor(
    readonly limit: number,
    private readonly sampleSize = 10,
  ) {}

  /** Records one problem; true when the limit is reached and reading should stop. */
  add(message: string): boolean {
    this.count++;
    if (this.sample.length < this.sampleSize) this.sample.push(message);
    return this.count >= this.limit;
  }

  /** The whole report, for a step that failed: the count, whether reading stopped, and the sample. */
  describe(rowsRead: number): string {
    if (this.count === 1) return this.sample[0]!;
    const stopped = this.count >= this.limit ? `, reading stopped after ${rowsRead} rows` : ` in ${rowsRead} rows`;
    const shown = this.sample.length < this.count ? `; the first ${this.sample.length}` : "";
    return `${this.count} problems${stopped}${shown}:\n  ${this.sample.join("\n  ")}`;
  }
}

type Issue = z.core.$ZodIssue;
type IssuePath = readonly PropertyKey[];

/**
 * `field "species": Invalid option: ...`, or the bare message for an issue about the whole row.
 * A nullable field rebuilt from JSON Schema is a union with `null`; its failure is reported as
 * the non-null branch's issue, which is what the original `.nullable()` schema says.
 */
export function describeIssue(issue: Issue, outerPath: IssuePath = []): string {
  const path = [...outerPath, ...issue.path];
  if (issue.code === "invalid_union") {
    const branches = issue.errors.filter((branch) => !isNullBranch(branch));
    if (branches.length === 1 && branches[0]!.length > 0) return describeIssue(branches[0]![0]!, path);
  }
  return path.length === 0 ? issue.message : `field ${JSON.stringify(formatPath(path))}: ${issue.message}`;
}

function isNullBranch(branch: readonly Issue[]): boolean {
  const only = branch.length === 1 ? branch[0]! : undefined;
  return only !== undefined && only.code === "invalid_type" && only.expected === "null" && only.path.length === 0;
}

/** `a.b[0]`, matching how a JS accessor would read. */
function formatPath(path: IssuePath): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`))
    .join("");
}

export function describeJsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

export function isRowObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
