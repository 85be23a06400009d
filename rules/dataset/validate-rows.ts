/**
 * Validates rows one batch at a time against the zod schema and the index: a row that fails is
 * a problem logged with where it is (row, line, column, field), and the rows that pass come out
 * as the schema outputs them. With an assigned index, each row gets its 1-based row number first.
 */
import type { z } from "zod";
import { describeIssue, describeJsonType, isRowObject, type ProblemLog } from "./errors.js";
import { IndexKeys } from "./index-keys.js";
import type { DatasetIndex } from "./params.js";
import type { Row, RowBatch } from "./text-rows.js";

export interface ValidatorOptions {
  schema: z.ZodType;
  index?: DatasetIndex;
  /** The index column is not in the data: number the rows. */
  assignIndex: boolean;
  problems: ProblemLog;
  /** For CSV: the header, so a field's message can say its column number. */
  header?: () => readonly string[] | undefined;
}

export class RowValidator {
  private readonly keys = new IndexKeys();
  /** Rows read so far (valid or not), for the report. */
  rowsRead = 0;

  constructor(private readonly options: ValidatorOptions) {}

  /** The batch's valid rows; false once the problem limit is reached (stop reading). */
  validate(batch: RowBatch): { rows: Row[]; stop: boolean } {
    const { schema, index, assignIndex, problems } = this.options;
    const out: Row[] = [];
    for (let i = 0; i < batch.rows.length; i++) {
      const rowNumber = batch.numbers[i]!;
      this.rowsRead = rowNumber;
      const result = schema.safeParse(batch.rows[i]);
      if (!result.success) {
        const issue = result.error.issues[0]!;
        if (problems.add(`${this.where(batch, i, issue.path[0])}: ${describeIssue(issue)}`)) return { rows: out, stop: true };
        continue;
      }
      let data = result.data;
      if (!isRowObject(data)) {
        if (problems.add(`${this.where(batch, i)}: the schema must describe an object a row, but it produced ${describeJsonType(data)}`)) return { rows: out, stop: true };
        continue;
      }
      if (index !== undefined) {
        if (assignIndex) data = { [index.column]: rowNumber, ...data };
        else {
          const problem = this.checkKey(data[index.column], rowNumber, index);
          if (problem !== undefined) {
            if (problems.add(`${this.where(batch, i, index.column)}: ${problem}`)) return { rows: out, stop: true };
            continue;
          }
        }
      }
      out.push(data as Row);
    }
    return { rows: out, stop: false };
  }

  private checkKey(value: unknown, rowNumber: number, index: DatasetIndex): string | undefined {
    const field = `field ${JSON.stringify(index.column)}`;
    if (value === null || value === undefined) return `${field}: the index is null; every ${index.entity} needs one`;
    const firstRow = this.keys.claim(value, rowNumber);
    if (firstRow === undefined) return undefined;
    return `${field}: duplicate index ${JSON.stringify(value)}, already used by row ${firstRow}; each ${index.entity} has one row`;
  }

  /** `row 17 (line 18, column 3)`: the line for text sources, the column for CSV. */
  private where(batch: RowBatch, i: number, field?: PropertyKey): string {
    const line = batch.lines?.[i];
    const header = this.options.header?.();
    const column = header && typeof field === "string" ? header.indexOf(field) : -1;
    const parts = [line !== undefined ? `line ${line}` : undefined, column >= 0 ? `column ${column + 1}` : undefined].filter(Boolean);
    return `row ${batch.numbers[i]}${parts.length > 0 ? ` (${parts.join(", ")})` : ""}`;
  }
}
