/**
 * The context a `step` or `test` function receives in its step runner process.
 * Paths are absolute and point into the step's sandbox (also its working directory), which holds
 * only the declared inputs.
 */
export interface StepContext {
  /** The label of the target being built, e.g. `//models:classifier`. */
  readonly label: string;
  /** Each named input: one absolute path, or an array for globs and multi-output targets. */
  readonly srcs: Readonly<Record<string, string | readonly string[]>>;
  /** The target's `params`, as JSON. */
  readonly params: any;
  /**
   * Absolute path where the declared output `name` must be written (subdirectories are made).
   * Throws for an absolute `name` or one with a `..` segment.
   */
  out(name: string): string;
  /** A line for the step's log (kept in the cache beside its outputs). */
  log(...args: unknown[]): void;
  /** A 32-bit seed derived from the action key: the same inputs give the same seed. */
  readonly seed: number;
  /** A PRNG in [0, 1) seeded with `seed`, so training is reproducible by default. */
  random(): number;
  /**
   * Reads a Parquet file (e.g. a dataset's `rows.parquet`) one row group at a time, only the
   * `columns` asked for: memory is one row group, whatever the file's size.
   * `for await (const { rows } of ctx.readParquet(ctx.srcs.trips as string, { columns: ["fare"] })) ...`
   * Values: INT64 as a number when exact (else a bigint), timestamps as ISO 8601 text, JSON
   * columns as their text. Nested columns are refused.
   */
  readParquet(path: string, options?: ParquetReadOptions): AsyncIterable<ParquetRowBatch>;
}

export interface ParquetReadOptions {
  /** Columns to read, all when absent; a name the file lacks is an error listing the ones it has. */
  columns?: readonly string[];
}

/** One row group: its rows and the 0-based position of its first row in the file. */
export interface ParquetRowBatch {
  rowStart: number;
  rows: Record<string, unknown>[];
}

/** The shape of a function named by `run: "./module.ts#name"`. */
export type StepFunction = (ctx: StepContext) => void | Promise<void>;
