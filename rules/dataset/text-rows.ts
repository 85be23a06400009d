/**
 * Rows of a text source (CSV, JSON Lines, a JSON array) as batches, read from decoded text
 * chunks: a batch is what one chunk completes, so memory is a chunk's worth of rows. CSV cells
 * become values as the schema's columns say (columns.ts); JSON values are taken as they are.
 * Where a row came from travels with it (its line), for the messages.
 */
import { cellCoercer, sourceColumnsProblem, type ColumnSpec } from "./columns.js";
import { CsvRecordSplitter } from "./csv-records.js";
import { DatasetError, describeJsonType, isRowObject, type ProblemLog } from "./errors.js";
import { JsonArraySplitter, JsonLinesSplitter } from "./json-records.js";

export type Row = Record<string, unknown>;

/** Rows and, beside each, its 1-based row number and (for text) the line it starts on. */
export interface RowBatch {
  rows: Row[];
  numbers: number[];
  lines?: number[];
  /** Rows read so far, valid or not (a record skipped for its field count counts too). */
  rowsRead: number;
}

/** What a CSV source tells the validator about its columns: position by name, for "column 3". */
export interface CsvLayout {
  header: string[];
}

/**
 * CSV rows. The header is checked against the schema's columns first (a column the schema does
 * not have, or a required one missing, is one clear error rather than one per row); a record with
 * the wrong number of fields is a problem logged, and the row skipped.
 */
export async function* csvRows(
  chunks: AsyncIterable<string>,
  columns: readonly ColumnSpec[] | undefined,
  options: { nulls: ReadonlySet<string>; problems: ProblemLog; onHeader?: (layout: CsvLayout) => void },
): AsyncGenerator<RowBatch> {
  const splitter = new CsvRecordSplitter();
  let header: string[] | undefined;
  let specs: ColumnSpec[] = [];
  let coercers: Array<(text: string) => unknown> = [];
  let rowNumber = 0;
  const take = (records: ReturnType<CsvRecordSplitter["push"]>): RowBatch => {
    const batch = { rows: [] as Row[], numbers: [] as number[], lines: [] as number[], rowsRead: 0 };
    let i = 0;
    if (header === undefined && records.length > 0) {
      const first = records[0]!;
      header = checkHeader(first.cells, first.line, columns);
      specs = header.map((name) => columns?.find((column) => column.name === name) ?? { name, types: new Set(["any"]), optional: true });
      coercers = specs.map((spec) => cellCoercer(spec, options.nulls));
      options.onHeader?.({ header });
      i = 1;
    }
    const width = specs.length;
    for (; i < records.length; i++) {
      const record = records[i]!;
      rowNumber++;
      const cells = record.cells;
      if (cells.length !== width) {
        if (options.problems.add(`row ${rowNumber} (line ${record.line}): expected ${width} fields, found ${cells.length}`)) break;
        continue;
      }
      const row: Row = {};
      for (let c = 0; c < width; c++) row[header![c]!] = coercers[c]!(cells[c]!);
      batch.rows.push(row);
      batch.numbers.push(rowNumber);
      batch.lines.push(record.line);
    }
    batch.rowsRead = rowNumber;
    return batch;
  };
  yield* batchesOf(chunks, (text, end) => take(splitter.push(text, end)), options.problems);
}

function checkHeader(cells: string[], line: number, columns: readonly ColumnSpec[] | undefined): string[] {
  const seen = new Set<string>();
  cells.forEach((column, c) => {
    if (column === "") throw new DatasetError(`header (line ${line}): column ${c + 1} has no name`);
    if (seen.has(column)) throw new DatasetError(`header (line ${line}): duplicate column "${column}"`);
    seen.add(column);
  });
  const problem = columns && sourceColumnsProblem(cells, columns);
  if (problem) throw new DatasetError(`header (line ${line}): ${problem}`);
  return cells;
}

/** JSON Lines rows: one object a non-blank line; a line that is not one is a problem logged. */
export async function* jsonLinesRows(chunks: AsyncIterable<string>, problems: ProblemLog): AsyncGenerator<RowBatch> {
  yield* jsonRows(chunks, new JsonLinesSplitter(), problems);
}

/** The elements of a top-level JSON array, each an object. */
export async function* jsonArrayRows(chunks: AsyncIterable<string>, problems: ProblemLog): AsyncGenerator<RowBatch> {
  yield* jsonRows(chunks, new JsonArraySplitter(), problems);
}

async function* jsonRows(
  chunks: AsyncIterable<string>,
  splitter: JsonLinesSplitter | JsonArraySplitter,
  problems: ProblemLog,
): AsyncGenerator<RowBatch> {
  let rowNumber = 0;
  const take = (records: ReturnType<JsonLinesSplitter["push"]>): RowBatch => {
    const batch = { rows: [] as Row[], numbers: [] as number[], lines: [] as number[], rowsRead: 0 };
    for (const record of records) {
      rowNumber++;
      const where = `row ${rowNumber} (line ${record.line})`;
      let value: unknown;
      try {
        value = JSON.parse(record.text);
      } catch (error) {
        if (problems.add(`${where}: invalid JSON: ${(error as Error).message}`)) break;
        continue;
      }
      if (!isRowObject(value)) {
        if (problems.add(`${where}: expected an object, found ${describeJsonType(value)}`)) break;
        continue;
      }
      batch.rows.push(value);
      batch.numbers.push(rowNumber);
      batch.lines.push(record.line);
    }
    batch.rowsRead = rowNumber;
    return batch;
  };
  yield* batchesOf(chunks, (text, end) => take(splitter.push(text, end)), problems);
}

/**
 * Feeds each chunk to a splitter and yields the batch of rows it completes, if it read any; the
 * end of the input (`end` true) flushes the last record. Stops once `problems` hit their limit.
 */
async function* batchesOf(chunks: AsyncIterable<string>, next: (text: string, end: boolean) => RowBatch, problems: ProblemLog): AsyncGenerator<RowBatch> {
  let reported = 0;
  for await (const text of chunks) {
    const batch = next(text, false);
    if (batch.rowsRead > reported) yield batch;
    reported = batch.rowsRead;
    if (problems.count >= problems.limit) return;
  }
  const last = next("", true);
  if (last.rowsRead > reported) yield last;
}
