/**
 * Writes validated rows as Parquet with hyparquet-writer, one row group per ROW_GROUP_ROWS rows:
 * rows are gathered into column arrays and written when a group is full, so memory is one row
 * group whatever the dataset's size. Column types come from the schema (columns.ts): text is
 * STRING, integers INT32 when the schema bounds them to 32 bits (z.int32()) and INT64 otherwise,
 * numbers DOUBLE, booleans BOOLEAN, anything else JSON text; nullable or optional columns are
 * OPTIONAL. Snappy compression, as pyarrow and Spark write by default.
 */
import type { SchemaElement } from "hyparquet";
import type { ColumnSpec } from "./columns.js";
import type { Row } from "./text-rows.js";

/** 32k rows: a few MB of column arrays for a table of a dozen columns (64k: +25 MB peak RSS, no faster), big enough to read fast. */
export const ROW_GROUP_ROWS = 32_768;

type Physical = "STRING" | "INT32" | "INT64" | "DOUBLE" | "BOOLEAN" | "JSON";

interface OutputColumn {
  name: string;
  physical: Physical;
  optional: boolean;
  values: unknown[];
}

/** How a column is stored, from the types its schema allows. */
export function physicalTypeOf(column: ColumnSpec): Physical {
  const types = new Set(column.types);
  types.delete("null");
  if (types.size === 1 && types.has("string")) return "STRING";
  if (types.size === 1 && types.has("boolean")) return "BOOLEAN";
  if (types.size === 1 && types.has("integer")) {
    const range = column.integerRange;
    return range && range[0] >= -(2 ** 31) && range[1] <= 2 ** 31 - 1 ? "INT32" : "INT64";
  }
  if (types.size > 0 && [...types].every((t) => t === "number" || t === "integer")) return "DOUBLE";
  return "JSON";
}

function schemaElement(column: OutputColumn): SchemaElement {
  const repetition_type = column.optional ? "OPTIONAL" : "REQUIRED";
  switch (column.physical) {
    case "STRING":
      return { name: column.name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type };
    case "JSON":
      return { name: column.name, type: "BYTE_ARRAY", converted_type: "JSON", repetition_type };
    default:
      return { name: column.name, type: column.physical, repetition_type };
  }
}

/** A validated value as the writer takes it: INT64 wants a bigint (a JSON column is encoded by the writer). */
function storedValue(physical: Physical, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (physical === "INT64" && typeof value === "number") return BigInt(value);
  return value;
}

export class ParquetSink {
  private writer: import("hyparquet-writer").ParquetWriter | undefined;
  private readonly columns: OutputColumn[];
  private buffered = 0;
  rows = 0;

  /**
   * @param columns the schema's columns, in order
   * @param indexColumn an assigned index column, written first as INT64
   * @param keyValue file metadata (the source's and the schema's digests)
   */
  constructor(
    private readonly path: string,
    columns: readonly ColumnSpec[],
    indexColumn: string | undefined,
    private readonly keyValue: Record<string, string>,
  ) {
    this.columns = [
      ...(indexColumn !== undefined ? [{ name: indexColumn, physical: "INT64" as const, optional: false, values: [] }] : []),
      ...columns.map((column) => ({ name: column.name, physical: physicalTypeOf(column), optional: column.optional || column.types.has("null"), values: [] })),
    ];
  }

  async write(rows: readonly Row[]): Promise<void> {
    for (const row of rows) {
      for (const column of this.columns) {
        const value = row[column.name];
        column.values.push(storedValue(column.physical, value));
      }
      if (++this.buffered === ROW_GROUP_ROWS) await this.flush();
    }
    this.rows += rows.length;
  }

  async close(): Promise<void> {
    if (this.buffered > 0 || this.writer === undefined) await this.flush();
    // Read again here: the source's digest is known only once every row was read.
    this.writer!.kvMetadata = Object.entries(this.keyValue).map(([key, value]) => ({ key, value }));
    await this.writer!.finish();
  }

  private async flush(): Promise<void> {
    const { ParquetWriter, fileWriter } = await import("hyparquet-writer");
    this.writer ??= new ParquetWriter({
      writer: fileWriter(this.path),
      schema: [{ name: "root", num_children: this.columns.length }, ...this.columns.map(schemaElement)],
      kvMetadata: Object.entries(this.keyValue).map(([key, value]) => ({ key, value })),
      createdBy: "kiln dataset (hyparquet-writer)",
    });
    if (this.buffered > 0) {
      await this.writer.write({
        // Min/max statistics for numbers only: for text they cost ~0.7 s a million rows
        // (string comparisons) and prune little, being truncated to 16 bytes.
        columnData: this.columns.map((column) => ({ name: column.name, data: column.values, statistics: column.physical !== "STRING" && column.physical !== "JSON" })),
        rowGroupSize: this.buffered,
      });
    }
    for (const column of this.columns) column.values = [];
    this.buffered = 0;
  }
}
