import { describe, expect, it } from "vitest";
import { z } from "zod";
import { DatasetError, normaliseDataset, parseRows, toJsonl, validateRows } from "./parse.js";

/** Runs `fn` and returns the DatasetError message it throws (fails if it throws anything else). */
function datasetError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DatasetError);
    return (error as Error).message;
  }
  throw new Error("expected a DatasetError, but nothing was thrown");
}

describe("parseRows csv", () => {
  it("types cells: numbers, null for empty and NA, strings otherwise", () => {
    const text = "name,mass,depth,note\nAdelie,3750,18.7,NA\nGentoo,,-1.5e2,ok\n";
    expect(parseRows(text, "csv")).toEqual([
      { name: "Adelie", mass: 3750, depth: 18.7, note: null },
      { name: "Gentoo", mass: null, depth: -150, note: "ok" },
    ]);
  });

  it("keeps text that only looks numeric in part, and ids too long for a double", () => {
    const rows = parseRows("a,b,c,d,e\n007,1.,+3,12345678901234567890, 4\n", "csv");
    expect(rows).toEqual([{ a: "007", b: "1.", c: "+3", d: "12345678901234567890", e: " 4" }]);
  });

  it("follows RFC 4180 quoting: commas, doubled quotes and newlines inside quotes", () => {
    const text = 'id,text\r\n1,"a, b"\r\n2,"say ""hi"""\r\n3,"two\nlines"\r\n4,""\r\n';
    expect(parseRows(text, "csv")).toEqual([
      { id: 1, text: "a, b" },
      { id: 2, text: 'say "hi"' },
      { id: 3, text: "two\nlines" },
      { id: 4, text: null },
    ]);
  });

  it("types quoted cells like unquoted ones (quotes only escape)", () => {
    expect(parseRows('x,y\n"42","NA"\n', "csv")).toEqual([{ x: 42, y: null }]);
  });

  it("skips blank lines, a byte order mark and a missing final newline", () => {
    expect(parseRows("\uFEFFa,b\n\n1,2\n\n3,4", "csv")).toEqual([
      { a: 1, b: 2 },
      { a: 3, b: 4 },
    ]);
  });

  it("returns no rows for an empty file or a header alone", () => {
    expect(parseRows("", "csv")).toEqual([]);
    expect(parseRows("a,b\n", "csv")).toEqual([]);
  });

  it("names the row and line of a record with the wrong number of fields", () => {
    expect(datasetError(() => parseRows("a,b\n1,2\n\n3\n", "csv"))).toBe("row 2 (line 4): expected 2 fields, found 1");
  });

  it("counts a multi-line quoted cell when numbering later lines", () => {
    expect(datasetError(() => parseRows('a,b\n1,"x\ny"\n2,3,4\n', "csv"))).toBe("row 2 (line 4): expected 2 fields, found 3");
  });

  it("rejects malformed quoting with the row it is on", () => {
    expect(datasetError(() => parseRows('a,b\n1,x"y\n', "csv"))).toBe(
      "row 1 (line 2): a quote inside an unquoted field (quote the whole field and double the quote)",
    );
    expect(datasetError(() => parseRows('a,b\n1,2\n3,"x"y\n', "csv"))).toBe('row 2 (line 3): unexpected "y" after a closing quote');
    expect(datasetError(() => parseRows('a,b\n1,2\n3,"open\n4,5\n', "csv"))).toBe(
      "row 2 (line 3): the quoted field opened on line 3 is never closed",
    );
  });

  it("rejects a header with a duplicate or empty column name", () => {
    expect(datasetError(() => parseRows("a,b,a\n1,2,3\n", "csv"))).toBe('header (line 1): duplicate column "a"');
    expect(datasetError(() => parseRows("a,,c\n1,2,3\n", "csv"))).toBe("header (line 1): column 2 has no name");
  });
});

describe("parseRows json", () => {
  it("takes a top-level array of objects as is", () => {
    expect(parseRows('\uFEFF[{"a":1,"b":null},{"a":"NA"}]', "json")).toEqual([{ a: 1, b: null }, { a: "NA" }]);
  });

  it("rejects anything but an array of objects, naming the row", () => {
    expect(datasetError(() => parseRows('{"a":1}', "json"))).toBe("expected a top-level JSON array of row objects, found an object");
    expect(datasetError(() => parseRows('[{"a":1},[1],{"a":2}]', "json"))).toBe("row 2: expected an object, found an array");
    expect(datasetError(() => parseRows("[{}, null]", "json"))).toBe("row 2: expected an object, found null");
    expect(datasetError(() => parseRows("[{", "json"))).toMatch(/^invalid JSON: /);
  });
});

describe("parseRows jsonl", () => {
  it("reads one object a non-blank line", () => {
    expect(parseRows('{"a":1}\r\n\n  \n{"a":2}', "jsonl")).toEqual([{ a: 1 }, { a: 2 }]);
  });

  it("names the row and line of a malformed line", () => {
    expect(datasetError(() => parseRows('{"a":1}\n\n{"a":\n', "jsonl"))).toMatch(/^row 2 \(line 3\): invalid JSON: /);
    expect(datasetError(() => parseRows('{"a":1}\n42\n', "jsonl"))).toBe("row 2 (line 2): expected an object, found a number");
  });
});

const penguinSchema = z.object({
  species: z.enum(["Adelie", "Chinstrap", "Gentoo"]),
  island: z.string(),
  beak: z.number().nullable(),
  mass: z.int(),
});

/** The schema as the worker sees it: through JSON Schema and back, as the rule sends it. */
const penguinSchemaInWorker = z.fromJSONSchema(z.toJSONSchema(penguinSchema));

const goodRow = { species: "Adelie", island: "Dream", beak: 39.1, mass: 3750 };

describe("validateRows", () => {
  it("returns the rows the schema accepts", () => {
    const rows = [goodRow, { ...goodRow, beak: null }];
    expect(validateRows(rows, penguinSchema)).toEqual(rows);
  });

  it("names the first failing row, the field and zod's message", () => {
    const rows = [goodRow, goodRow, { ...goodRow, species: "Emperor" }, { ...goodRow, mass: "x" }];
    expect(datasetError(() => validateRows(rows, penguinSchema))).toBe(
      'row 3: field "species": Invalid option: expected one of "Adelie"|"Chinstrap"|"Gentoo"',
    );
  });

  it("formats nested paths like accessors", () => {
    const schema = z.object({ tags: z.array(z.object({ name: z.string() })) });
    expect(datasetError(() => validateRows([{ tags: [{ name: "a" }, { name: 1 }] }], schema))).toBe(
      'row 1: field "tags[1].name": Invalid input: expected string, received number',
    );
  });

  describe("with an index", () => {
    const index = { column: "id", entity: "penguin" };

    it("assigns the 1-based row number first in each row when the column is absent", () => {
      const rows = validateRows([goodRow, { ...goodRow, mass: 4000 }], penguinSchema, index);
      expect(rows).toEqual([
        { id: 1, ...goodRow },
        { id: 2, ...goodRow, mass: 4000 },
      ]);
      expect(Object.keys(rows[0]!)[0]).toBe("id");
    });

    it("keeps an index column the data has", () => {
      const schema = penguinSchema.extend({ id: z.string() });
      const rows = [
        { ...goodRow, id: "P1" },
        { ...goodRow, id: "P2" },
      ];
      expect(validateRows(rows, schema, index)).toEqual(rows);
    });

    it("rejects a duplicate index value, naming both rows", () => {
      const schema = penguinSchema.extend({ id: z.int() });
      const rows = [1, 2, 1].map((id) => ({ ...goodRow, id }));
      expect(datasetError(() => validateRows(rows, schema, index))).toBe(
        'row 3: field "id": duplicate index 1, already used by row 1; each penguin has one row',
      );
    });

    it("rejects a null index value", () => {
      const schema = penguinSchema.extend({ id: z.int().nullable() });
      const rows = [{ ...goodRow, id: 1 }, { ...goodRow, id: null }];
      expect(datasetError(() => validateRows(rows, schema, index))).toBe(
        'row 2: field "id": the index is null; every penguin needs one',
      );
    });

    it("treats an index present on only some rows as missing on the others", () => {
      const schema = penguinSchema.extend({ id: z.int().optional() });
      const rows = [{ ...goodRow, id: 1 }, goodRow];
      expect(datasetError(() => validateRows(rows, schema, index))).toBe(
        'row 2: field "id": the index is null; every penguin needs one',
      );
    });
  });
});

describe("the schema's round trip through JSON Schema", () => {
  it("accepts and rejects what the original schema does", () => {
    const rows = [goodRow, { ...goodRow, beak: null }];
    expect(validateRows(rows, penguinSchemaInWorker)).toEqual(validateRows(rows, penguinSchema));
  });

  it.each([
    [{ ...goodRow, species: "Emperor" }, 'field "species": Invalid option: expected one of "Adelie"|"Chinstrap"|"Gentoo"'],
    [{ ...goodRow, beak: "39.1" }, 'field "beak": Invalid input: expected number, received string'],
    [{ ...goodRow, island: null }, 'field "island": Invalid input: expected string, received null'],
    [{ ...goodRow, mass: 3750.5 }, 'field "mass": Invalid input: expected int, received number'],
    [{ species: "Adelie", island: "Dream", mass: 1 }, 'field "beak": Invalid input: expected number, received undefined'],
  ])("gives the original schema's message for %j", (row, message) => {
    expect(datasetError(() => validateRows([row], penguinSchema))).toBe(`row 1: ${message}`);
    expect(datasetError(() => validateRows([row], penguinSchemaInWorker))).toBe(`row 1: ${message}`);
  });

  it("reports a nullable enum's allowed values, not a bare union failure", () => {
    const schema = z.fromJSONSchema(z.toJSONSchema(z.object({ sex: z.enum(["MALE", "FEMALE"]).nullable() })));
    expect(validateRows([{ sex: null }, { sex: "MALE" }], schema)).toEqual([{ sex: null }, { sex: "MALE" }]);
    expect(datasetError(() => validateRows([{ sex: "M" }], schema))).toBe(
      'row 1: field "sex": Invalid option: expected one of "MALE"|"FEMALE"',
    );
  });

  it("rejects columns the schema does not declare (z.object becomes a closed object)", () => {
    expect(datasetError(() => validateRows([{ ...goodRow, extra: 1 }], penguinSchemaInWorker))).toBe(
      'row 1: Unrecognized key: "extra"',
    );
  });
});

describe("toJsonl", () => {
  it("writes one object a line with a trailing newline", () => {
    expect(toJsonl([{ a: 1, b: null }, { a: "x" }])).toBe('{"a":1,"b":null}\n{"a":"x"}\n');
    expect(toJsonl([])).toBe("");
  });
});

describe("normaliseDataset", () => {
  it("parses, validates against the JSON-Schema form and indexes a CSV", () => {
    const text = "species,island,beak,mass\nAdelie,Dream,39.1,3750\nGentoo,Biscoe,NA,5000\n";
    const jsonl = normaliseDataset(text, {
      format: "csv",
      schema: z.toJSONSchema(penguinSchema),
      index: { column: "id", entity: "penguin" },
    });
    expect(jsonl).toBe(
      '{"id":1,"species":"Adelie","island":"Dream","beak":39.1,"mass":3750}\n' +
        '{"id":2,"species":"Gentoo","island":"Biscoe","beak":null,"mass":5000}\n',
    );
  });
});
