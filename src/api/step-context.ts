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
}

/** The shape of a function named by `run: "./module.ts#name"`. */
export type StepFunction = (ctx: StepContext) => void | Promise<void>;
