import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DatasetError } from "./errors.js";
import { JsonArraySplitter, JsonLinesSplitter, type JsonRecord } from "./json-records.js";

function inPieces(splitter: JsonArraySplitter | JsonLinesSplitter, text: string, cuts: number[]): JsonRecord[] {
  const records: JsonRecord[] = [];
  let start = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    records.push(...splitter.push(text.slice(start, cut)));
    start = cut;
  }
  records.push(...splitter.push(text.slice(start), true));
  return records;
}

const parsed = (records: JsonRecord[]) => records.map((r) => ({ line: r.line, value: JSON.parse(r.text) }));

describe("JsonArraySplitter", () => {
  it("splits a top-level array into its elements, with the line each starts on", () => {
    const text = '\uFEFF[\n  {"a": 1, "b": [1, {"c": "}]"}]},\n  {"a": "x\\"y"}, 42, "s,t" ,null\n]\n';
    expect(parsed(new JsonArraySplitter().push(text, true))).toEqual([
      { line: 2, value: { a: 1, b: [1, { c: "}]" }] } },
      { line: 3, value: { a: 'x"y' } },
      { line: 3, value: 42 },
      { line: 3, value: "s,t" },
      { line: 3, value: null },
    ]);
    expect(new JsonArraySplitter().push("[ ]", true)).toEqual([]);
  });

  it("refuses what is not one top-level array", () => {
    const error = (text: string) => {
      try {
        new JsonArraySplitter().push(text, true);
      } catch (e) {
        expect(e).toBeInstanceOf(DatasetError);
        return (e as Error).message;
      }
      return "no error";
    };
    expect(error('{"a":1}')).toBe('line 1: expected a top-level JSON array of row objects, found "{"');
    expect(error("")).toBe("expected a top-level JSON array of row objects, found an empty file");
    expect(error('[{"a":1}\n')).toBe("line 2: the top-level array is never closed");
    expect(error('[{"a":1}] x')).toBe('line 1: unexpected "x" after the end of the top-level array');
    expect(error('[{"a":1} {"b":2}]')).toBe('line 1: expected "," or "]" after an array element, found "{"');
  });

  it("gives the same elements however the text is cut into chunks", () => {
    const row = fc.dictionary(fc.stringMatching(/^[a-z"\\é😀]{1,4}$/), fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 })), { maxKeys: 3 });
    fc.assert(
      fc.property(fc.array(row, { maxLength: 6 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 6 }), (rows, pretty, cuts) => {
        const text = JSON.stringify(rows, null, pretty ? 2 : undefined);
        const records = inPieces(new JsonArraySplitter(), text, cuts.map((c) => c % (text.length + 1)));
        expect(records.map((r) => JSON.parse(r.text))).toEqual(rows);
      }),
      { numRuns: 300 },
    );
  });
});

describe("JsonLinesSplitter", () => {
  it("takes one value a non-blank line, numbering lines", () => {
    expect(new JsonLinesSplitter().push('{"a":1}\r\n\n  \n{"a":2}', true)).toEqual([
      { line: 1, text: '{"a":1}\r' },
      { line: 4, text: '{"a":2}' },
    ]);
  });

  it("gives the same lines however the text is cut into chunks", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 6 }), (values, cuts) => {
        const text = values.map((v) => JSON.stringify({ v })).join("\n");
        const records = inPieces(new JsonLinesSplitter(), text, cuts.map((c) => c % (text.length + 1)));
        expect(records.map((r) => JSON.parse(r.text).v)).toEqual(values);
      }),
    );
  });
});
