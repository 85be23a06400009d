/**
 * What a rule lowers to: one of three primitives, as plain JSON so a loaded graph can be cached
 * and reused without evaluating BUILD.ts again. Source references in `srcs` are still text here
 * (paths, globs, labels, `@source`); the graph resolves them.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type PrimitiveAction = "step" | "cmd" | "files";

export interface DatasetIndex {
  /** The key column of each row. */
  column: string;
  /** What one key identifies ("penguin", "island"): joins across entities are rejected. */
  entity: string;
}

/** Two named inputs of a step joined on their dataset index keys. */
export interface JoinDeclaration {
  left: string;
  right: string;
}

export interface ActionSpec {
  /** The rule the user called (`step`, `cmd`, `dataset`, a macro's name): what `kind()` matches. */
  rule: string;
  /** The primitive that executes it. */
  action: PrimitiveAction;
  /** Named inputs: each a list of source references, in declaration order. */
  srcs: Record<string, string[]>;
  /** Declared output file names, relative to the target's output directory. */
  outs: string[];
  /** `step`: `./module.ts#export` relative to the package, or `kiln:<path in kiln>#export`. */
  run?: string;
  params?: Json;
  /** `cmd`: the shell command text. */
  cmd?: string;
  /** `cmd`: host programs the command runs; their name and version enter the key. */
  tools?: string[];
  /** `cmd`: keeps the network in the namespace sandbox (enters the key; results say so). */
  network?: boolean;
  /** Environment variables set for the action; their values enter the key. */
  env?: Record<string, string>;
  /** Host variables passed through; their values at build time enter the key. */
  passEnv?: string[];
  /** A test: run by `kiln test`, skipped by `kiln build` unless named explicitly. */
  test?: boolean;
  /**
   * Outputs that hold metrics (JSON), compared by `kiln release --diff` and `kiln metrics diff`.
   * Not in the key: naming a file a metric changes no output.
   */
  metrics?: string[];
  /** Analysis-time facts: a dataset's index, a step's joins. */
  index?: DatasetIndex;
  joins?: JoinDeclaration[];
}
