import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { DatasetError } from "./errors.js";
import { normaliseDatasetFile } from "./normalise-dataset.js";
import { openParquet } from "./parquet-file.js";
import type { DatasetFormat, DatasetParams } from "./params.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-dataset-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let serial = 0;

type Options = Partial<Omit<DatasetParams, "schema" | "format">>;

/** Writes `content` as a source, normalises it, and returns the JSONL text. */
async function normalise(content: string | Buffer, format: DatasetFormat, schema: z.ZodType, options: Options = {}): Promise<string> {
  const n = ++serial;
  const source = join(dir, `source-${n}.${format}`);
  writeFileSync(source, content);
  const out = join(dir, `out-${n}.jsonl`);
  await normaliseDatasetFile(source, { format, schema: z.toJSONSchema(schema), ...options }, out);
  return readFileSync(out, "utf8");
}

async function rows(content: string | Buffer, format: DatasetFormat, schema: z.ZodType, options: Options = {}): Promise<unknown[]> {
  return (await normalise(content, format, schema, options)).split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

async function problem(content: string, format: DatasetFormat, schema: z.ZodType, options: Options = {}): Promise<string> {
  try {
    await normalise(content, format, schema, options);
  } catch (error) {
    expect(error).toBeInstanceOf(DatasetError);
    return (error as Error).message;
  }
  throw new Error("expected a DatasetError");
}

const penguin = z.object({
  species: z.enum(["Adelie", "Chinstrap", "Gentoo"]),
  island: z.string(),
  beak: z.number().nullable(),
  mass: z.int(),
});
const index = { column: "id", entity: "penguin" };

describe("CSV cells become what the schema asks for", () => {
  it("keeps a digits-only z.string() column as text, numbers where the schema has numbers", async () => {
    const schema = z.object({ zip: z.string(), n: z.number(), flag: z.boolean(), note: z.string().nullable() });
    expect(await rows("zip,n,flag,note\n02134,-1.5e2,true,\n99,7,false,x\n", "csv", schema)).toEqual([
      { zip: "02134", n: -150, flag: true, note: null },
      { zip: "99", n: 7, flag: false, note: "x" },
    ]);
  });

  it('does not read "NA" as null unless told, then reads it so in nullable columns only', async () => {
    const schema = z.object({ name: z.string(), mass: z.int().nullable() });
    expect(await problem("name,mass\nAdelie,NA\n", "csv", schema)).toBe('row 1 (line 2, column 2): field "mass": Invalid input: expected number, received string');
    expect(await rows("name,mass\nNA,NA\n", "csv", schema, { nulls: ["", "NA"] })).toEqual([{ name: "NA", mass: null }]);
  });

  it("keeps an integer too long for a double as text, so the schema refuses it rather than rounding it", async () => {
    const schema = z.object({ id: z.int() });
    expect(await problem("id\n12345678901234567890\n", "csv", schema)).toBe('row 1 (line 2, column 1): field "id": Invalid input: expected number, received string');
  });

  it("types cells by their look where the schema does not type the column", async () => {
    expect(await rows("a,b,c\n1,x,\n", "csv", z.object({ a: z.any(), b: z.any(), c: z.any() }))).toEqual([{ a: 1, b: "x", c: null }]);
  });
});

describe("CSV structure", () => {
  it("follows RFC 4180, skips blank lines and a byte order mark", async () => {
    const schema = z.object({ id: z.int(), text: z.string() });
    const text = '\uFEFFid,text\r\n1,"a, b"\r\n\r\n2,"say ""hi"""\r\n3,"two\nlines"';
    expect(await rows(text, "csv", schema)).toEqual([
      { id: 1, text: "a, b" },
      { id: 2, text: 'say "hi"' },
      { id: 3, text: "two\nlines" },
    ]);
  });

  it("returns no rows for an empty file or a header alone", async () => {
    expect(await normalise("", "csv", penguin)).toBe("");
    expect(await normalise("species,island,beak,mass\n", "csv", penguin)).toBe("");
  });

  it("checks the header against the schema once, not on every row", async () => {
    expect(await problem("species,island,beak,mass,extra\n", "csv", penguin)).toBe(
      'header (line 1): "extra" is not a column of the schema (its columns: "species", "island", "beak", "mass")',
    );
    expect(await problem("species,island\n", "csv", penguin)).toBe(`header (line 1): the schema's columns "beak", "mass" are missing`);
    expect(await problem("a,b,a\n", "csv", z.any())).toBe('header (line 1): duplicate column "a"');
  });

  it("names the row and line of a record with the wrong number of fields", async () => {
    const schema = z.object({ a: z.int(), b: z.int() });
    expect(await problem('a,b\n1,"x\ny"\n2,3,4\n', "csv", schema)).toContain("row 2 (line 4): expected 2 fields, found 3");
  });
});

describe("problems: a count and a sample, reading stopped after maxErrors", () => {
  const schema = z.object({ n: z.int() });
  const csv = "n\n" + Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? "x" : String(i))).join("\n") + "\n";

  it("counts every problem of a file under the limit and shows the first ten", async () => {
    const message = await problem(csv, "csv", schema);
    expect(message.split("\n")[0]).toBe("25 problems in 50 rows; the first 10:");
    expect(message.split("\n")[1]).toBe('  row 1 (line 2, column 1): field "n": Invalid input: expected number, received string');
    expect(message.split("\n")).toHaveLength(11);
  });

  it("stops reading at the limit", async () => {
    expect((await problem(csv, "csv", schema, { maxErrors: 3 })).split("\n")[0]).toBe("3 problems, reading stopped after 5 rows:");
  });

  it("reports a single problem alone", async () => {
    expect(await problem("n\n1\nx\n", "csv", schema)).toBe('row 2 (line 3, column 1): field "n": Invalid input: expected number, received string');
  });
});

describe("the index", () => {
  it("numbers the rows, first in each row, when the schema has no index column", async () => {
    const out = await rows("species,island,beak,mass\nAdelie,Dream,39.1,3750\nGentoo,Biscoe,,5000\n", "csv", penguin, { index });
    expect(out).toEqual([
      { id: 1, species: "Adelie", island: "Dream", beak: 39.1, mass: 3750 },
      { id: 2, species: "Gentoo", island: "Biscoe", beak: null, mass: 5000 },
    ]);
    expect(Object.keys(out[0] as object)[0]).toBe("id");
  });

  it("refuses a repeated or null index value, naming the rows", async () => {
    const schema = z.object({ id: z.int().nullable() });
    expect(await problem("id\n1\n2\n3\n2\n", "csv", schema, { index })).toBe(
      'row 4 (line 5, column 1): field "id": duplicate index 2, already used by row 2; each penguin has one row',
    );
    expect(await problem("id\n5\n1\n5\n", "csv", schema, { index })).toContain("duplicate index 5, already used by row 1");
    const twoColumns = z.object({ id: z.int().nullable(), n: z.int() });
    expect(await problem("id,n\n1,1\n,2\n", "csv", twoColumns, { index })).toBe('row 2 (line 3, column 1): field "id": the index is null; every penguin needs one');
    const strings = z.object({ id: z.string() });
    expect(await problem('[{"id":"a"},{"id":"b"},{"id":"a"}]', "json", strings, { index })).toBe(
      'row 3 (line 1): field "id": duplicate index "a", already used by row 1; each penguin has one row',
    );
  });
});

describe("JSON and JSON Lines", () => {
  it("streams a top-level array of objects, values as they are", async () => {
    expect(await rows('\uFEFF[{"species":"Adelie","island":"NA","beak":null,"mass":1}]', "json", penguin)).toEqual([
      { species: "Adelie", island: "NA", beak: null, mass: 1 },
    ]);
    expect(await problem('[{"mass":1},[1]]', "json", z.object({ mass: z.int() }))).toBe("row 2 (line 1): expected an object, found an array");
  });

  it("reads one object a non-blank line, naming the row and line of a bad one", async () => {
    const schema = z.object({ a: z.int() });
    expect(await rows('{"a":1}\r\n\n  \n{"a":2}', "jsonl", schema)).toEqual([{ a: 1 }, { a: 2 }]);
    expect(await problem('{"a":1}\n\n{"a":\n', "jsonl", schema)).toMatch(/^row 2 \(line 3\): invalid JSON: /);
  });
});

describe("reading the source", () => {
  it("keeps a multibyte character whole across the 1 MiB read boundary", async () => {
    const schema = z.object({ text: z.string() });
    const prefix = "text\n" + "a".repeat((1 << 20) - 6) + "\n"; // the next character starts at byte 2^20 - 1
    const content = Buffer.from(prefix + "é€😀\n", "utf8");
    const out = await rows(content, "csv", schema);
    expect(out.at(-1)).toEqual({ text: "é€😀" });
  });

  it("refuses bytes that are not UTF-8", async () => {
    const source = join(dir, "latin1.csv");
    writeFileSync(source, Buffer.from([0x61, 0x0a, 0xe9, 0x0a]));
    await expect(normaliseDatasetFile(source, { format: "csv", schema: z.toJSONSchema(z.object({ a: z.string() })) }, join(dir, "x.jsonl"))).rejects.toThrow(
      /not valid UTF-8/,
    );
  });

  it("hashes the bytes it parsed", async () => {
    const content = "a\n1\n";
    const source = join(dir, "hashed.csv");
    writeFileSync(source, content);
    const summary = await normaliseDatasetFile(source, { format: "csv", schema: z.toJSONSchema(z.object({ a: z.int() })) }, join(dir, "h.jsonl"));
    expect(summary).toEqual({ rows: 1, sourceDigest: createHash("sha256").update(content).digest("hex"), ranges: 1 });
  });
});

describe("Parquet out, and back in", () => {
  it("writes typed columns kiln reads back the same, with the source and schema digests in the file", async () => {
    const schema = z.object({ name: z.string(), n: z.int32(), big: z.int(), x: z.number().nullable(), ok: z.boolean(), tags: z.array(z.string()) });
    const source = join(dir, "typed.jsonl");
    const input = [
      { name: "a", n: 1, big: 2 ** 40, x: 1.5, ok: true, tags: ["t"] },
      { name: "ü", n: -2, big: -1, x: null, ok: false, tags: [] },
    ];
    writeFileSync(source, input.map((row) => JSON.stringify(row)).join("\n"));
    const out = join(dir, "typed.parquet");
    const params = { format: "jsonl" as const, schema: z.toJSONSchema(schema), schemaDigest: "s".repeat(64), index, out: "parquet" as const };
    const summary = await normaliseDatasetFile(source, params, out);
    const file = await openParquet(out);
    expect(file.columns).toEqual(["id", "name", "n", "big", "x", "ok", "tags"]);
    expect(file.keyValue).toEqual({ "kiln.schema.sha256": "s".repeat(64), "kiln.source.sha256": summary.sourceDigest });
    const read = [];
    for await (const batch of file.batches()) read.push(...batch.rows);
    await file.close();
    expect(read).toEqual(input.map((row, i) => ({ id: i + 1, ...row })));

    // The Parquet file as a dataset source: the same rows again.
    const again = await rows(readFileSync(out), "parquet", schema.extend({ id: z.int() }), { index });
    expect(again).toEqual(read);
  });
});
