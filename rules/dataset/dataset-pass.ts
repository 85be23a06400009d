/**
 * One pass over a dataset's rows, whichever bytes of the source it reads (the whole file here, a
 * byte range on a worker thread in parallel-ranges.ts): the schema rebuilt, text turned into row
 * batches in the source's format, and the valid rows written.
 */
import { z } from "zod";
import { columnsOf, type ColumnSpec } from "./columns.js";
import { DatasetError, type ProblemLog } from "./errors.js";
import type { JsonlSink } from "./jsonl-sink.js";
import type { DatasetParams } from "./params.js";
import type { OpenedParquet } from "./parquet-file.js";
import type { ParquetSink } from "./parquet-sink.js";
import { csvRows, jsonArrayRows, jsonLinesRows, type Row, type RowBatch } from "./text-rows.js";
import { RowValidator } from "./validate-rows.js";

export interface DatasetSummary {
  rows: number;
  /** SHA-256 of the source's bytes as parsed. */
  sourceDigest: string;
  /** Byte ranges parsed side by side on worker threads; 1 when parsed in one pass here. */
  ranges: number;
  /** Why a source that might have been parsed in ranges was not (no reason: it was never a candidate). */
  sequentialBecause?: string;
}

/** What one pass over a dataset's rows needs, whichever bytes of the source it reads. */
export interface DatasetPlan {
  schema: z.ZodType;
  columns: ColumnSpec[] | undefined;
  /** The index column is not in the data: rows are numbered. */
  assignIndex: boolean;
}

export function planDataset(params: DatasetParams): DatasetPlan {
  let schema: z.ZodType;
  try {
    schema = z.fromJSONSchema(params.schema);
  } catch (error) {
    throw new DatasetError(`the dataset schema could not be rebuilt from JSON Schema: ${(error as Error).message}`);
  }
  const columns = columnsOf(params.schema);
  const index = params.index;
  // The schema says whether the data carries the index: a column it does not declare is numbered.
  const assignIndex = index !== undefined && !(columns ?? []).some((column) => column.name === index.column);
  return { schema, columns, assignIndex };
}

/**
 * Validates `batches` into `sink` and returns the count of rows written; throws the report of
 * the problems (the sink closed) if any row was wrong. The sink stays open otherwise.
 */
export async function writeValidRows(
  batches: AsyncIterable<RowBatch>,
  params: DatasetParams,
  plan: DatasetPlan,
  problems: ProblemLog,
  sink: JsonlSink | ParquetSink,
  header: () => readonly string[] | undefined,
  onValid?: (rows: readonly Row[]) => void,
): Promise<number> {
  const index = params.index;
  const validator = new RowValidator({ schema: plan.schema, ...(index ? { index } : {}), assignIndex: plan.assignIndex, problems, header });
  let rowsRead = 0;
  let stopReadingAt: number | undefined;
  for await (const batch of batches) {
    rowsRead = batch.rowsRead;
    const { rows, stop } = validator.validate(batch);
    onValid?.(rows);
    await sink.write(rows);
    if (stop) {
      stopReadingAt = validator.rowsRead;
      break;
    }
  }
  if (problems.count > 0) {
    await sink.close().catch(() => undefined);
    throw new DatasetError(problems.describe(stopReadingAt ?? rowsRead));
  }
  return sink.rows;
}

/** Batches of rows from decoded text in the source's format (CSV, JSON Lines or a JSON array). */
export function textRows(
  chunks: AsyncIterable<string>,
  params: DatasetParams,
  columns: ColumnSpec[] | undefined,
  problems: ProblemLog,
  onHeader: (names: readonly string[]) => void,
): AsyncIterable<RowBatch> {
  switch (params.format) {
    case "csv":
      return csvRows(chunks, columns, { nulls: new Set(params.nulls ?? [""]), problems, onHeader: (layout) => onHeader(layout.header) });
    case "jsonl":
      return jsonLinesRows(chunks, problems);
    case "json":
      return jsonArrayRows(chunks, problems);
    default:
      throw new DatasetError(`unknown dataset format ${JSON.stringify(params.format)} (expected csv, json, jsonl or parquet)`);
  }
}

/** Row batches of a Parquet file (row groups [first, end) when given), numbered from the file's first row; closes the file. */
export async function* parquetRows(file: OpenedParquet, groups?: { first: number; end: number }): AsyncGenerator<RowBatch> {
  try {
    for await (const group of file.batches(groups ? { groups } : {})) {
      yield { rows: group.rows, numbers: group.rows.map((_, i) => group.rowStart + i + 1), rowsRead: group.rowStart + group.rows.length };
    }
  } finally {
    await file.close();
  }
}
