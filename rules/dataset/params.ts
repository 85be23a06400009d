/**
 * What the `dataset` rule hands its step (rules/index.ts lowers `dataset({...})` to these params;
 * all of them enter the action key, the schema as its JSON Schema form).
 */
import type { z } from "zod";

export type DatasetFormat = "csv" | "json" | "jsonl" | "parquet";
export type DatasetOutput = "jsonl" | "parquet";

/** The key column of a dataset and the entity one key identifies (`{ column: "id", entity: "penguin" }`). */
export interface DatasetIndex {
  column: string;
  entity: string;
}

export interface DatasetParams {
  format: DatasetFormat;
  schema: z.core.JSONSchema.JSONSchema;
  /** SHA-256 of the canonical JSON Schema: the schema's own digest, in the key and in the output's metadata. */
  schemaDigest?: string;
  index?: DatasetIndex;
  /** Output format; jsonl when absent. */
  out?: DatasetOutput;
  /** CSV cells read as null in nullable columns; [""] when absent. */
  nulls?: string[];
  /** Stop after this many row problems; 100 when absent. */
  maxErrors?: number;
}

/** The output file's name for an output format. */
export function outputName(out: DatasetOutput | undefined): string {
  return out === "parquet" ? "rows.parquet" : "rows.jsonl";
}

export const DEFAULT_MAX_ERRORS = 100;
