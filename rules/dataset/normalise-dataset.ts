/**
 * A dataset's whole computation, streamed: read the source once (hashing the bytes as they are
 * parsed), turn it into rows batch by batch, validate each batch, write the valid rows, and fail
 * with a count and a sample of the problems if any row was wrong. Memory is a chunk of text or
 * one Parquet row group in, one row group out, whatever the file's size.
 *
 * A large CSV or JSON Lines source written as JSON Lines is first tried in byte ranges on worker
 * threads (parallel-ranges.ts); that path gives the same bytes or gives up, and then this
 * sequential one runs, so messages and row numbers always come from here.
 */
import { digestFile } from "../../src/key/file-digest.js";
import { sourceColumnsProblem, type ColumnSpec } from "./columns.js";
import { parquetRows, planDataset, textRows, writeValidRows, type DatasetSummary } from "./dataset-pass.js";
import { DatasetError, ProblemLog } from "./errors.js";
import { JsonlSink } from "./jsonl-sink.js";
import { normaliseInRanges, type ParallelOptions } from "./parallel-ranges.js";
import { openParquet } from "./parquet-file.js";
import { ParquetSink } from "./parquet-sink.js";
import { DEFAULT_MAX_ERRORS, type DatasetParams } from "./params.js";
import { readSourceText } from "./source-text.js";
import type { RowBatch } from "./text-rows.js";

export type { DatasetSummary } from "./dataset-pass.js";

export async function normaliseDatasetFile(sourcePath: string, params: DatasetParams, outPath: string, parallel: ParallelOptions = {}): Promise<DatasetSummary> {
  const plan = planDataset(params);
  const inRanges = await normaliseInRanges(sourcePath, params, plan, outPath, parallel);
  if ("summary" in inRanges) return inRanges.summary;

  const problems = new ProblemLog(params.maxErrors ?? DEFAULT_MAX_ERRORS);
  let header: readonly string[] | undefined;
  const { batches, digest } = await openRows(sourcePath, params, plan.columns, problems, (names) => (header = names));
  const keyValue: Record<string, string> = { "kiln.schema.sha256": params.schemaDigest ?? "" };
  const sink =
    params.out === "parquet"
      ? new ParquetSink(outPath, requireColumns(plan.columns), plan.assignIndex ? params.index!.column : undefined, keyValue)
      : new JsonlSink(outPath);
  const rows = await writeValidRows(batches, params, plan, problems, sink, () => header);
  const sourceDigest = await digest();
  keyValue["kiln.source.sha256"] = sourceDigest;
  await sink.close();
  return { rows, sourceDigest, ranges: 1, ...(inRanges.sequentialBecause ? { sequentialBecause: inRanges.sequentialBecause } : {}) };
}

function requireColumns(columns: ColumnSpec[] | undefined): ColumnSpec[] {
  if (columns === undefined) throw new DatasetError(`out: "parquet" needs a schema of named columns (z.object({ ... })) to type the file's columns`);
  return columns;
}

async function openRows(
  sourcePath: string,
  params: DatasetParams,
  columns: ColumnSpec[] | undefined,
  problems: ProblemLog,
  onHeader: (names: readonly string[]) => void,
): Promise<{ batches: AsyncIterable<RowBatch>; digest: () => Promise<string> }> {
  if (params.format === "parquet") {
    const file = await openParquet(sourcePath);
    const problem = columns && sourceColumnsProblem(file.columns, columns);
    if (problem) {
      await file.close();
      throw new DatasetError(problem);
    }
    // Parquet is read from the footer, in row groups: not one front-to-back pass to hash as it
    // goes. Its digest is one sequential read (~1.4 GB/s from the page cache).
    return { batches: parquetRows(file), digest: async () => (await digestFile(sourcePath)).digest };
  }
  const text = readSourceText(sourcePath);
  return { batches: textRows(text.chunks, params, columns, problems, onHeader), digest: async () => text.digest() };
}
