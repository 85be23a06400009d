/**
 * `ctx.readParquet`: a step reads a Parquet file (a dataset's `rows.parquet`, or any flat one)
 * row group by row group, only the columns it asks for, so a step over a large table holds one
 * row group, not the table. Errors name the file.
 */
import { basename } from "node:path";
import type { ParquetReadOptions, ParquetRowBatch } from "../../src/api/step-context.js";
import { DatasetError } from "./errors.js";
import { openParquet } from "./parquet-file.js";

export async function* readParquet(path: string, options: ParquetReadOptions = {}): AsyncGenerator<ParquetRowBatch> {
  let file;
  try {
    file = await openParquet(path);
  } catch (error) {
    throw named(path, error);
  }
  try {
    yield* file.batches(options);
  } catch (error) {
    throw named(path, error);
  } finally {
    await file.close();
  }
}

function named(path: string, error: unknown): unknown {
  if (!(error instanceof DatasetError)) return error;
  const plain = new Error(`${basename(path)}: ${error.message}`);
  plain.stack = plain.message;
  // Still the input's fault: the build exits 2 (see errors.ts).
  return Object.assign(plain, { kilnFault: error.kilnFault });
}
