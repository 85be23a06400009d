/**
 * Reading Parquet one row group at a time with hyparquet (pure JavaScript, no native build) and
 * hyparquet-compressors (gzip, zstd, brotli, lz4, snappy): memory is one row group of the columns
 * asked for, whatever the file's size. Values come out as JSON-like JavaScript values: INT64 as a
 * number when it fits a double exactly (else a bigint), timestamps and dates as ISO 8601 text.
 * Nested columns (lists, structs, maps) are refused with a message naming them: kiln's datasets
 * are flat tables.
 */
import { open, type FileHandle } from "node:fs/promises";
import type { AsyncBuffer, FileMetaData, SchemaTree } from "hyparquet";
import { DatasetError } from "./errors.js";

export type ParquetRow = Record<string, unknown>;

/** One row group's rows and the 0-based index of its first row in the file. */
export interface ParquetBatch {
  rowStart: number;
  rows: ParquetRow[];
}

export interface ParquetReadOptions {
  /** The columns to read (all when absent); a name the file lacks is an error naming the ones it has. */
  columns?: readonly string[];
}

/** A Parquet file opened for reading: its columns and its rows, row group by row group. */
export interface OpenedParquet {
  numRows: number;
  columns: string[];
  /** Key-value metadata of the file (kiln writes its source's digest there). */
  keyValue: Record<string, string>;
  batches(options?: ParquetReadOptions): AsyncGenerator<ParquetBatch>;
  close(): Promise<void>;
}

export async function openParquet(path: string): Promise<OpenedParquet> {
  const { parquetMetadataAsync, parquetSchema } = await import("hyparquet");
  const handle = await open(path, "r");
  try {
    const file = fileBuffer(handle, (await handle.stat()).size);
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(file);
    } catch (error) {
      throw new DatasetError(`not a readable Parquet file: ${(error as Error).message}`);
    }
    const schema = parquetSchema(metadata);
    refuseNested(schema);
    const columns = schema.children.map((child) => child.element.name);
    const keyValue = Object.fromEntries((metadata.key_value_metadata ?? []).map(({ key, value }) => [key, value ?? ""]));
    return {
      numRows: Number(metadata.num_rows),
      columns,
      keyValue,
      batches: (options) => readBatches(file, metadata, columns, options),
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

function refuseNested(schema: SchemaTree): void {
  const nested = schema.children.filter((child) => child.children.length > 0 || child.element.repetition_type === "REPEATED");
  if (nested.length > 0) {
    const names = nested.map((child) => `"${child.element.name}"`).join(", ");
    throw new DatasetError(
      `nested column${nested.length === 1 ? "" : "s"} ${names} (list, struct or map): datasets are flat tables; flatten ${nested.length === 1 ? "it" : "them"} into columns of numbers, text or booleans first`,
    );
  }
}

async function* readBatches(file: AsyncBuffer, metadata: FileMetaData, all: string[], options: ParquetReadOptions = {}): AsyncGenerator<ParquetBatch> {
  const { parquetReadObjects } = await import("hyparquet");
  const { compressors } = await import("hyparquet-compressors");
  const columns = options.columns ? [...options.columns] : undefined;
  const unknown = columns?.filter((name) => !all.includes(name)) ?? [];
  if (unknown.length > 0) {
    throw new DatasetError(`no column ${unknown.map((c) => `"${c}"`).join(", ")} in the file (its columns: ${all.map((c) => `"${c}"`).join(", ")})`);
  }
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = (await parquetReadObjects({ file, metadata, rowStart, rowEnd, compressors, ...(columns ? { columns } : {}) })) as ParquetRow[];
    for (const row of rows) normaliseRow(row);
    yield { rowStart, rows };
    rowStart = rowEnd;
  }
}

/** In place: bigint to number where exact, Date to ISO 8601 text. */
function normaliseRow(row: ParquetRow): void {
  for (const name in row) {
    const value = row[name];
    if (typeof value === "bigint") {
      if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) row[name] = Number(value);
    } else if (value instanceof Date) {
      row[name] = value.toISOString();
    }
  }
}

/** hyparquet's view of a file: positioned reads through one open handle. */
function fileBuffer(handle: FileHandle, byteLength: number): AsyncBuffer {
  return {
    byteLength,
    async slice(start: number, end = byteLength): Promise<ArrayBuffer> {
      const length = end - start;
      // allocUnsafeSlow: a buffer of its own, so its ArrayBuffer is exactly these bytes.
      const bytes = Buffer.allocUnsafeSlow(length);
      let read = 0;
      while (read < length) {
        const { bytesRead } = await handle.read(bytes, read, length - read, start + read);
        if (bytesRead === 0) throw new DatasetError(`the Parquet file ends at byte ${start + read}, before its metadata says it should`);
        read += bytesRead;
      }
      return bytes.buffer as ArrayBuffer;
    },
  };
}
