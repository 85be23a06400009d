/**
 * The worker side of the `dataset` rule: parse, validate every row, write normalised JSONL.
 * A bad row fails the step with the file, row number and field, and no stack trace: it is the
 * data that is wrong, not the code.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import type { StepContext } from "../../src/api/step-context.js";
import { DatasetError, normaliseDataset, type DatasetFormat, type DatasetIndex } from "./parse.js";

interface DatasetParams {
  format: DatasetFormat;
  schema: Parameters<typeof normaliseDataset>[1]["schema"];
  index: DatasetIndex;
}

export async function runDataset(ctx: StepContext): Promise<void> {
  const params = ctx.params as DatasetParams;
  const source = ctx.srcs.data as string;
  let jsonl: string;
  try {
    jsonl = normaliseDataset(readFileSync(source, "utf8"), params);
  } catch (error) {
    if (!(error instanceof DatasetError)) throw error;
    const plain = new Error(`${basename(source)}: ${error.message}`);
    plain.stack = plain.message;
    throw plain;
  }
  writeFileSync(ctx.out("rows.jsonl"), jsonl);
  ctx.log(`${basename(source)}: ${jsonl.length === 0 ? 0 : jsonl.split("\n").length - 1} rows valid`);
}
