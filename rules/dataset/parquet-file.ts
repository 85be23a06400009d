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

/** Up to a few thousand rows of one row group, and the 0-based index of the first in the file. */
export interface ParquetBatch {
  rowStart: number;
  rows: ParquetRow[];
}

export interface ParquetReadOptions {
  /** The columns to read (all when absent); a name the file lacks is an error naming the ones it has. */
  columns?: readonly string[];
  /** Only row groups [first, end) (all when absent): a worker's share of the file. */
  groups?: { first: number; end: number };
}

/** A Parquet file opened for reading: its columns and its rows, row group by row group. */
export interface OpenedParquet {
  numRows: number;
  /** Rows in each row group, in file order. */
  groupRows: number[];
  /** Each row group's uncompressed size in bytes, as its metadata says. */
  groupBytes: number[];
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
      groupRows: metadata.row_groups.map((group) => Number(group.num_rows)),
      groupBytes: metadata.row_groups.map((group) => Number(group.total_byte_size)),
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

/**
 * Rows are made from the decoded columns a few thousand at a time: a row group as objects
 * (pyarrow writes groups of up to 1M rows) took 880 MB; as columns it is what the file holds.
 */
const BATCH_ROWS = 4096;

async function* readBatches(file: AsyncBuffer, metadata: FileMetaData, all: string[], options: ParquetReadOptions = {}): AsyncGenerator<ParquetBatch> {
  const { parquetRead } = await import("hyparquet");
  const { compressors } = await import("hyparquet-compressors");
  const columns = options.columns ? [...options.columns] : all;
  const unknown = columns.filter((name) => !all.includes(name));
  if (unknown.length > 0) {
    throw new DatasetError(`no column ${unknown.map((c) => `"${c}"`).join(", ")} in the file (its columns: ${all.map((c) => `"${c}"`).join(", ")})`);
  }
  const groups = options.groups ?? { first: 0, end: metadata.row_groups.length };
  let groupStart = 0;
  for (const group of metadata.row_groups.slice(0, groups.first)) groupStart += Number(group.num_rows);
  for (const group of metadata.row_groups.slice(groups.first, groups.end)) {
    const groupEnd = groupStart + Number(group.num_rows);
    const values = await readGroupColumns(parquetRead, { file, metadata, compressors, columns, groupStart, groupEnd });
    for (let start = groupStart; start < groupEnd; start += BATCH_ROWS) {
      const end = Math.min(groupEnd, start + BATCH_ROWS);
      const rows: ParquetRow[] = [];
      for (let r = start - groupStart; r < end - groupStart; r++) {
        const row: ParquetRow = {};
        for (let c = 0; c < columns.length; c++) row[columns[c]!] = plainValue(values[c]![r]);
        rows.push(row);
      }
      yield { rowStart: start, rows };
    }
    groupStart = groupEnd;
  }
}

/** One row group's columns, each as one array indexed from the group's first row. */
async function readGroupColumns(
  parquetRead: typeof import("hyparquet").parquetRead,
  options: { file: AsyncBuffer; metadata: FileMetaData; compressors: import("hyparquet").Compressors; columns: string[]; groupStart: number; groupEnd: number },
): Promise<ArrayLike<unknown>[]> {
  const { columns, groupStart, groupEnd } = options;
  const chunks: { rowStart: number; data: ArrayLike<unknown> }[][] = columns.map(() => []);
  const position = new Map(columns.map((name, i) => [name, i]));
  await parquetRead({
    file: options.file,
    metadata: options.metadata,
    compressors: options.compressors,
    columns,
    rowStart: groupStart,
    rowEnd: groupEnd,
    onChunk: ({ columnName, columnData, rowStart }) => chunks[position.get(columnName)!]!.push({ rowStart, data: columnData }),
  });
  return chunks.map((parts) => {
    // Usually one chunk holds the whole group: use it as it is.
    const only = parts.length === 1 ? parts[0]! : undefined;
    if (only && only.rowStart === groupStart) return only.data;
    // Otherwise join them, keeping only the group's rows (a chunk may reach outside them).
    const joined: unknown[] = [];
    for (const { rowStart, data } of parts.sort((a, b) => a.rowStart - b.rowStart)) {
      for (let r = Math.max(rowStart, groupStart + joined.length); r < Math.min(rowStart + data.length, groupEnd); r++) joined.push(data[r - rowStart]);
    }
    return joined;
  });
}

/** bigint to number where exact, Date to ISO 8601 text; everything else as decoded. */
function plainValue(value: unknown): unknown {
  if (typeof value === "bigint") return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
  if (value instanceof Date) return value.toISOString();
  return value === undefined ? null : value;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

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
