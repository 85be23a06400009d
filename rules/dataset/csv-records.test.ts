import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CsvRecordSplitter, type CsvRecord } from "./csv-records.js";
import { DatasetError } from "./errors.js";

function split(text: string): CsvRecord[] {
  return new CsvRecordSplitter().push(text, true);
}

/** The same text pushed in pieces cut at `cuts`. */
function splitInPieces(text: string, cuts: number[]): CsvRecord[] {
  const splitter = new CsvRecordSplitter();
  const records: CsvRecord[] = [];
  let start = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    records.push(...splitter.push(text.slice(start, cut)));
    start = cut;
  }
  records.push(...splitter.push(text.slice(start), true));
  return records;
}

function errorOf(text: string): string {
  try {
    split(text);
  } catch (error) {
    expect(error).toBeInstanceOf(DatasetError);
    return (error as Error).message;
  }
  throw new Error("expected a DatasetError");
}

describe("CsvRecordSplitter", () => {
  it("follows RFC 4180 quoting: commas, doubled quotes and newlines inside quotes, CRLF", () => {
    const text = 'id,text\r\n1,"a, b"\r\n2,"say ""hi"""\r\n3,"two\nlines"\r\n4,""\r\n5,x\r\n';
    expect(split(text)).toEqual([
      { line: 1, cells: ["id", "text"] },
      { line: 2, cells: ["1", "a, b"] },
      { line: 3, cells: ["2", 'say "hi"'] },
      { line: 4, cells: ["3", "two\nlines"] },
      { line: 6, cells: ["4", ""] },
      { line: 7, cells: ["5", "x"] },
    ]);
  });

  it("skips blank lines and takes a last line without its newline", () => {
    expect(split("a,b\n\n1,2\n\n3,4")).toEqual([
      { line: 1, cells: ["a", "b"] },
      { line: 3, cells: ["1", "2"] },
      { line: 5, cells: ["3", "4"] },
    ]);
    expect(split("")).toEqual([]);
  });

  it("rejects malformed quoting with its line and column", () => {
    expect(errorOf('a,b\n1,x"y\n')).toBe("line 2, column 4: a quote inside an unquoted field (quote the whole field and double the quote)");
    expect(errorOf('a,b\n1,2\n3,"x"y\n')).toBe('line 3, column 6: unexpected "y" after a closing quote');
    expect(errorOf('a,b\n1,2\n3,"open\n4,5\n')).toBe("line 3, column 3: the quoted field opened here is never closed");
    expect(errorOf('a,b\n1,"x\ny"z\n')).toBe('line 3, column 3: unexpected "z" after a closing quote');
  });

  it("gives the same records however the text is cut into chunks", () => {
    const cell = fc.oneof(
      fc.stringMatching(/^[a-z0-9é€😀 ]{0,6}$/),
      fc.stringMatching(/^[a-z,"\n\r é]{0,6}$/).map((s) => `"${s.replace(/"/g, '""')}"`),
    );
    const record = fc.array(cell, { minLength: 1, maxLength: 4 }).map((cells) => cells.join(","));
    const csv = fc.tuple(fc.array(record, { maxLength: 8 }), fc.constantFrom("\n", "\r\n")).map(([records, eol]) => records.map((r) => r + eol).join(""));
    fc.assert(
      fc.property(csv, fc.array(fc.nat(), { maxLength: 6 }), (text, cuts) => {
        expect(splitInPieces(text, cuts.map((c) => c % (text.length + 1)))).toEqual(split(text));
      }),
      { numRuns: 300 },
    );
  });
});
