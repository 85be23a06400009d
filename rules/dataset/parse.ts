/**
 * The `dataset` rule's pure core: text in, validated rows out. No file system here; `run.ts` is
 * the worker entry that reads the source and writes `rows.jsonl`.
 * Invariant: every error is a DatasetError whose message starts with the 1-based data row it is
 * about (`row 17: ...`), counting rows of data, not lines of text (the header is not a row).
 */
import { z } from "zod";

/** A user's data does not parse or does not fit its schema. The message names the row. */
export class DatasetError extends Error {
  override name = "DatasetError";
}

export type DatasetFormat = "csv" | "json" | "jsonl";

/** The key column of a dataset and the entity one key identifies (`{ column: "id", entity: "penguin" }`). */
export interface DatasetIndex {
  column: string;
  entity: string;
}

export type Row = Record<string, unknown>;

/**
 * Parses a dataset's text into one object a row.
 * - `csv`: RFC 4180 with a header row. Unquoted and quoted cells are typed alike (quotes only
 *   escape): an empty cell or `NA` is null, a cell in JSON number syntax is a number (except
 *   integers beyond 2^53, which stay strings so long ids survive), anything else is a string.
 * - `json`: a top-level array of objects, taken as is.
 * - `jsonl`: one object a non-blank line.
 */
export function parseRows(text: string, format: DatasetFormat): Row[] {
  switch (format) {
    case "csv":
      return parseCsv(text);
    case "json":
      return parseJsonArray(text);
    case "jsonl":
      return parseJsonLines(text);
    default: {
      const unknownFormat: never = format;
      throw new DatasetError(`unknown dataset format ${JSON.stringify(unknownFormat)} (expected csv, json or jsonl)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CSV

/** One CSV record and the line it starts on (a quoted cell may span lines). */
interface CsvRecord {
  line: number;
  cells: string[];
}

function parseCsv(text: string): Row[] {
  const records = splitCsvRecords(stripByteOrderMark(text));
  const header = records.shift();
  if (header === undefined) return [];
  const columns = checkHeader(header);
  return records.map((record, i) => {
    const where = `row ${i + 1} (line ${record.line})`;
    if (record.cells.length !== columns.length) {
      throw new DatasetError(`${where}: expected ${columns.length} fields, found ${record.cells.length}`);
    }
    return Object.fromEntries(columns.map((column, c) => [column, typeCsvCell(record.cells[c]!)]));
  });
}

function checkHeader(header: CsvRecord): string[] {
  const seen = new Set<string>();
  header.cells.forEach((column, c) => {
    if (column === "") throw new DatasetError(`header (line ${header.line}): column ${c + 1} has no name`);
    if (seen.has(column)) throw new DatasetError(`header (line ${header.line}): duplicate column "${column}"`);
    seen.add(column);
  });
  return header.cells;
}

/**
 * Splits CSV text into records of raw cell text. Accepts LF and CRLF line ends; skips lines that
 * are entirely empty. Strict where RFC 4180 is: a quote inside an unquoted cell, text after a
 * closing quote, or an unclosed quote is an error, since guessing would silently shift columns.
 */
function splitCsvRecords(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let cells: string[] = [];
  let cell = "";
  let cellWasQuoted = false; // a closing quote was read: only a delimiter may follow
  let line = 1;
  let recordLine = 1;
  let i = 0;

  // The header is record 0, so the n-th data row is record n.
  const where = () => (records.length === 0 ? `header (line ${recordLine})` : `row ${records.length} (line ${recordLine})`);
  const endCell = () => {
    cells.push(cell);
    cell = "";
    cellWasQuoted = false;
  };
  const endRecord = () => {
    const blankLine = cells.length === 0 && cell === "" && !cellWasQuoted;
    endCell();
    if (!blankLine) records.push({ line: recordLine, cells });
    cells = [];
  };

  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ",") {
      endCell();
      i++;
    } else if (ch === "\n" || (ch === "\r" && text[i + 1] === "\n")) {
      endRecord();
      i += ch === "\r" ? 2 : 1;
      line++;
      recordLine = line;
    } else if (cellWasQuoted) {
      throw new DatasetError(`${where()}: unexpected ${JSON.stringify(ch)} after a closing quote`);
    } else if (ch === '"') {
      if (cell !== "") {
        throw new DatasetError(`${where()}: a quote inside an unquoted field (quote the whole field and double the quote)`);
      }
      const openedOnLine = line;
      const close = readQuotedCell(text, i + 1);
      if (close === undefined) throw new DatasetError(`${where()}: the quoted field opened on line ${openedOnLine} is never closed`);
      cell = close.text;
      line += close.newlines;
      cellWasQuoted = true;
      i = close.end;
    } else {
      cell += ch;
      i++;
    }
  }
  if (cells.length > 0 || cell !== "" || cellWasQuoted) endRecord();
  return records;
}

/** Reads a quoted cell's content from just after its opening quote; `""` is an escaped quote. */
function readQuotedCell(text: string, start: number): { text: string; end: number; newlines: number } | undefined {
  let content = "";
  let newlines = 0;
  let i = start;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"') {
      if (text[i + 1] !== '"') return { text: content, end: i + 1, newlines };
      content += '"';
      i += 2;
      continue;
    }
    if (ch === "\n") newlines++;
    content += ch;
    i++;
  }
  return undefined;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const JSON_INTEGER = /^-?(?:0|[1-9]\d*)$/;

function typeCsvCell(text: string): string | number | null {
  if (text === "" || text === "NA") return null;
  if (JSON_NUMBER.test(text)) {
    const value = Number(text);
    // An id like 12345678901234567890 would lose digits as a double: keep its text.
    if (JSON_INTEGER.test(text) && !Number.isSafeInteger(value)) return text;
    return value;
  }
  return text;
}

function stripByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

// ---------------------------------------------------------------------------------------------
// JSON and JSONL

function parseJsonArray(text: string): Row[] {
  let value: unknown;
  try {
    value = JSON.parse(stripByteOrderMark(text));
  } catch (error) {
    throw new DatasetError(`invalid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(value)) {
    throw new DatasetError(`expected a top-level JSON array of row objects, found ${describeJsonType(value)}`);
  }
  value.forEach((row, i) => {
    if (!isRowObject(row)) throw new DatasetError(`row ${i + 1}: expected an object, found ${describeJsonType(row)}`);
  });
  return value as Row[];
}

function parseJsonLines(text: string): Row[] {
  const rows: Row[] = [];
  stripByteOrderMark(text)
    .split("\n")
    .forEach((lineText, lineIndex) => {
      if (lineText.trim() === "") return;
      const where = `row ${rows.length + 1} (line ${lineIndex + 1})`;
      let value: unknown;
      try {
        value = JSON.parse(lineText);
      } catch (error) {
        throw new DatasetError(`${where}: invalid JSON: ${(error as Error).message}`);
      }
      if (!isRowObject(value)) throw new DatasetError(`${where}: expected an object, found ${describeJsonType(value)}`);
      rows.push(value);
    });
  return rows;
}

function isRowObject(value: unknown): value is Row {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describeJsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * Validates each row against `schema` and returns the rows as the schema outputs them.
 * The first row that fails throws, naming the row, the field and zod's message.
 * With `index`: if no row has `index.column`, each row gets it as its 1-based row number, first
 * in the row; if rows have it, a null or repeated value is an error.
 */
export function validateRows(rows: readonly Row[], schema: z.ZodType, index?: DatasetIndex): Row[] {
  const assignIndex = index !== undefined && !rows.some((row) => Object.hasOwn(row, index.column));
  const firstRowOfKey = new Map<string, number>();

  return rows.map((row, i) => {
    const rowNumber = i + 1;
    const result = schema.safeParse(row);
    if (!result.success) {
      throw new DatasetError(`row ${rowNumber}: ${describeIssue(result.error.issues[0]!)}`);
    }
    const data = result.data;
    if (!isRowObject(data)) {
      throw new DatasetError(`row ${rowNumber}: the schema must describe an object a row, but it produced ${describeJsonType(data)}`);
    }
    if (index === undefined) return data;
    if (assignIndex) return { [index.column]: rowNumber, ...data };

    const value = data[index.column];
    const field = `field ${JSON.stringify(index.column)}`;
    if (value === null || value === undefined) {
      throw new DatasetError(`row ${rowNumber}: ${field}: the index is null; every ${index.entity} needs one`);
    }
    const key = JSON.stringify(value);
    const firstRow = firstRowOfKey.get(key);
    if (firstRow !== undefined) {
      throw new DatasetError(
        `row ${rowNumber}: ${field}: duplicate index ${key}, already used by row ${firstRow}; each ${index.entity} has one row`,
      );
    }
    firstRowOfKey.set(key, rowNumber);
    return data;
  });
}

type Issue = z.core.$ZodIssue;
type IssuePath = readonly PropertyKey[];

/**
 * `field "species": Invalid option: ...`, or the bare message for an issue about the whole row.
 * A nullable field rebuilt from JSON Schema is a union with `null`; its failure is reported as
 * the non-null branch's issue, which is what the original `.nullable()` schema says.
 */
export function describeIssue(issue: Issue, outerPath: IssuePath = []): string {
  const path = [...outerPath, ...issue.path];
  if (issue.code === "invalid_union") {
    const branches = issue.errors.filter((branch) => !isNullBranch(branch));
    if (branches.length === 1 && branches[0]!.length > 0) return describeIssue(branches[0]![0]!, path);
  }
  return path.length === 0 ? issue.message : `field ${JSON.stringify(formatPath(path))}: ${issue.message}`;
}

function isNullBranch(branch: readonly Issue[]): boolean {
  const only = branch.length === 1 ? branch[0]! : undefined;
  return only !== undefined && only.code === "invalid_type" && only.expected === "null" && only.path.length === 0;
}

/** `a.b[0]`, matching how a JS accessor would read. */
function formatPath(path: IssuePath): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`))
    .join("");
}

// ---------------------------------------------------------------------------------------------
// Output

/** One JSON object a line, each line ending in a newline (an empty dataset is an empty file). */
export function toJsonl(rows: readonly Row[]): string {
  return rows.map((row) => JSON.stringify(row) + "\n").join("");
}

/**
 * The whole worker computation: a dataset's text, format, JSON-Schema form of its zod schema and
 * index, to normalised JSONL. The schema crosses to the worker as JSON Schema (made with
 * `z.toJSONSchema` at analysis time) because a zod object cannot be sent between threads.
 */
export function normaliseDataset(
  text: string,
  options: { format: DatasetFormat; schema: z.core.JSONSchema.JSONSchema; index?: DatasetIndex },
): string {
  let schema: z.ZodType;
  try {
    schema = z.fromJSONSchema(options.schema);
  } catch (error) {
    throw new DatasetError(`the dataset schema could not be rebuilt from JSON Schema: ${(error as Error).message}`);
  }
  return toJsonl(validateRows(parseRows(text, options.format), schema, options.index));
}
