/**
 * The worker side of the `dataset` rule: stream the source through parsing and validation into
 * `rows.jsonl` or `rows.parquet`. Bad data fails the step with the file, row, line, column and
 * field, and no stack trace: it is the data that is wrong, not the code.
 */
import { basename } from "node:path";
import type { StepContext } from "../../src/api/step-context.js";
import { DatasetError } from "./errors.js";
import { normaliseDatasetFile } from "./normalise-dataset.js";
import { outputName, type DatasetParams } from "./params.js";

export async function runDataset(ctx: StepContext): Promise<void> {
  const params = ctx.params as DatasetParams;
  const source = ctx.srcs.data as string;
  try {
    const summary = await normaliseDatasetFile(source, params, ctx.out(outputName(params.out)));
    ctx.log(`${basename(source)}: ${summary.rows} rows valid (source sha256 ${summary.sourceDigest})`);
    if (summary.ranges > 1) ctx.log(`parsed in ${summary.ranges} byte ranges on worker threads`);
    else if (summary.sequentialBecause) ctx.log(`parsed in one pass: ${summary.sequentialBecause}`);
  } catch (error) {
    if (!(error instanceof DatasetError)) throw error;
    const plain = new Error(`${basename(source)}: ${error.message}`);
    plain.stack = plain.message;
    // Still the input's fault: the build exits 2 (see errors.ts).
    Object.assign(plain, { kilnFault: error.kilnFault });
    throw plain;
  }
}
