/**
 * kiln's Parquet checked by readers and writers kiln did not write: every file kiln writes is read
 * back by pyarrow and DuckDB (row count, column types, values against the source), and files
 * pyarrow wrote (each compression, nulls, nested columns) are fed to kiln's dataset rule and its
 * ctx.readParquet. Needs `pip install -r test/requirements.txt` (.ci/run does it).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { normaliseDatasetFile } from "../../rules/dataset/normalise-dataset.js";
import { readParquet } from "../../rules/dataset/parquet-reader.js";
import type { DatasetParams } from "../../rules/dataset/params.js";
import { PARQUET_TOOL, READERS_AVAILABLE } from "./independent-readers.js";

const TOOL = PARQUET_TOOL;
const dir = mkdtempSync(join(tmpdir(), "kiln-parquet-interop-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function python(...args: string[]): string {
  const run = spawnSync("python3", [TOOL, ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (run.status !== 0) {
    throw new Error(`python3 parquet_tool.py ${args.join(" ")} failed (${run.error?.message ?? `exit ${run.status}`}; pip install -r test/requirements.txt?):\n${run.stderr}`);
  }
  return run.stdout;
}

interface PyarrowView {
  num_rows: number;
  row_groups: number;
  columns: { name: string; type: string; nullable: boolean }[];
  metadata: Record<string, string>;
  rows: Record<string, unknown>[];
}

beforeAll(() => {
  if (READERS_AVAILABLE) python("check"); // fails early, with the install hint, if pyarrow or DuckDB is missing
}, 60_000);

async function kilnDataset(source: string, params: Omit<DatasetParams, "schema"> & { schema: z.ZodType }, out: string) {
  return normaliseDatasetFile(source, { ...params, schema: z.toJSONSchema(params.schema) }, out);
}

describe.runIf(READERS_AVAILABLE)("Parquet kiln writes, read by pyarrow and DuckDB", () => {
  const schema = z.object({
    zip: z.string(),
    small: z.int32(),
    big: z.int(),
    x: z.number().nullable(),
    ok: z.boolean(),
    note: z.string().nullable(),
    tags: z.array(z.string()),
  });
  const source = [
    { zip: "02134", small: 1, big: 2 ** 40, x: 1.5, ok: true, note: "ü€😀", tags: ["a"] },
    { zip: "99", small: -2, big: -1, x: null, ok: false, note: null, tags: [] },
    ...Array.from({ length: 70_000 }, (_, i) => ({ zip: String(i), small: i, big: i * 1000, x: i / 4, ok: i % 2 === 0, note: i % 3 ? `n${i}` : null, tags: [] })),
  ];
  let view: PyarrowView;
  let out: string;
  let sourceDigest: string;

  beforeAll(async () => {
    const input = join(dir, "typed.jsonl");
    writeFileSync(input, source.map((row) => JSON.stringify(row)).join("\n") + "\n");
    out = join(dir, "typed.parquet");
    ({ sourceDigest } = await kilnDataset(input, { format: "jsonl", schema, schemaDigest: "d".repeat(64), index: { column: "id", entity: "thing" }, out: "parquet" }, out));
    view = JSON.parse(python("read", out)) as PyarrowView;
  });

  it("has the source's row count, in several row groups", () => {
    expect(view.num_rows).toBe(source.length);
    expect(view.row_groups).toBe(Math.ceil(source.length / 32_768));
  });

  it("types columns from the schema", () => {
    expect(view.columns).toEqual([
      { name: "id", type: "int64", nullable: false },
      { name: "zip", type: "string", nullable: false },
      { name: "small", type: "int32", nullable: false },
      { name: "big", type: "int64", nullable: false },
      { name: "x", type: "double", nullable: true },
      { name: "ok", type: "bool", nullable: false },
      { name: "note", type: "string", nullable: true },
      { name: "tags", type: expect.stringMatching(/^(string|large_string|extension<arrow\.json>)$/), nullable: false },
    ]);
  });

  it("holds the source's values, the digits-only text still text", () => {
    const expected = source.map((row, i) => ({ id: i + 1, ...row, tags: JSON.stringify(row.tags) }));
    // Compared as one text each: a deep diff of 70k rows takes seconds and shows nothing useful.
    const differing = expected.findIndex((row, i) => JSON.stringify(row) !== JSON.stringify(view.rows[i]));
    expect(differing === -1 ? "all equal" : { row: differing, expected: expected[differing], pyarrow: view.rows[differing] }).toBe("all equal");
  });

  it("names the source's and the schema's digests in its metadata", () => {
    expect(view.metadata).toMatchObject({ "kiln.source.sha256": sourceDigest, "kiln.schema.sha256": "d".repeat(64) });
  });

  it("answers DuckDB's queries as the source does", () => {
    const [row] = JSON.parse(python("duckdb", out, "SELECT count(*), sum(big), count(note), typeof(small), typeof(big) FROM t GROUP BY 4, 5")) as unknown[][];
    const sumBig = source.reduce((sum, r) => sum + r.big, 0);
    expect(row).toEqual([source.length, String(sumBig).length > 15 ? expect.anything() : sumBig, source.filter((r) => r.note !== null).length, "INTEGER", "BIGINT"]);
  });
});

describe.runIf(READERS_AVAILABLE)("Parquet pyarrow writes, read by kiln", () => {
  const flatSchema = z.object({
    id: z.int(),
    name: z.string().nullable(),
    mass: z.int().nullable(),
    beak: z.number().nullable(),
    ok: z.boolean().nullable(),
  });

  it.each(["snappy", "gzip", "zstd", "brotli", "lz4", "none"])("reads a %s-compressed file with nulls as pyarrow does", async (codec) => {
    const file = join(dir, `flat-${codec}.parquet`);
    python("write", file, codec, "flat");
    const expected = (JSON.parse(python("read", file)) as PyarrowView).rows;

    const out = join(dir, `flat-${codec}.jsonl`);
    await kilnDataset(file, { format: "parquet", schema: flatSchema, index: { column: "id", entity: "thing" } }, out);
    const rows = readFileSync(out, "utf8").trim().split("\n").map((line) => JSON.parse(line));
    expect(rows).toEqual(expected);

    const batches = [];
    for await (const batch of readParquet(file, { columns: ["name", "beak"] })) batches.push(batch);
    expect(batches.map((b) => b.rowStart)).toEqual([0, 3]); // pyarrow wrote row groups of 3
    expect(batches.flatMap((b) => b.rows)).toEqual(expected.map(({ name, beak }) => ({ name, beak })));
  });

  it("refuses nested columns, naming them", async () => {
    const file = join(dir, "nested.parquet");
    python("write", file, "snappy", "nested");
    await expect(kilnDataset(file, { format: "parquet", schema: z.object({ id: z.int() }) }, join(dir, "nested.jsonl"))).rejects.toThrow(
      'nested columns "tags", "point" (list, struct or map): datasets are flat tables; flatten them into columns of numbers, text or booleans first',
    );
  });

  it("names the columns a file lacks and the ones it has", async () => {
    const file = join(dir, "flat-snappy.parquet");
    const read = async () => {
      for await (const batch of readParquet(file, { columns: ["nope"] })) void batch;
    };
    await expect(read()).rejects.toThrow('flat-snappy.parquet: no column "nope" in the file (its columns: "id", "name", "mass", "beak", "ok")');
    await expect(kilnDataset(file, { format: "parquet", schema: z.object({ id: z.int(), extra: z.string() }) }, join(dir, "x.jsonl"))).rejects.toThrow(
      '"name", "mass", "beak", "ok" are not columns of the schema',
    );
  });
});
