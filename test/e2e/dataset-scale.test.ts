/**
 * A dataset at scale through the real CLI: a generated CSV of 1M rows (10M with KILN_TEST_LONG=1)
 * built into Parquet by `dataset` (and into JSON Lines, parsed in byte ranges on worker threads,
 * checked byte for byte), then summed by a step through ctx.readParquet, with the peak
 * RSS of the build measured by GNU time (the largest single process: kiln or its step runner)
 * and asserted. pyarrow/DuckDB check the file kiln wrote. Bad rows fail with file, row, line,
 * column and field, and no stack trace.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, collect, KILN_BIN, makeWorkspace, show, stackLines, WORKSPACE_TS } from "./harness.js";
import { PARQUET_TOOL, READERS_AVAILABLE } from "../datasets/independent-readers.js";

afterAll(cleanupTempDirs);

const LONG = process.env.KILN_TEST_LONG === "1";
const ROWS = LONG ? 10_000_000 : 1_000_000;
/** The goal: under 300 MB at 10M rows, flat from 1M. */
const PEAK_RSS_LIMIT_MB = 300;

const BUILD_TS = `import { dataset, step } from "kiln";
import { z } from "zod";

export const trips = dataset({
  src: "trips.csv",
  format: "csv",
  schema: z.object({ id: z.int(), vendor: z.enum(["CMT", "VTS", "DDS"]), zone: z.string(), fare: z.number() }),
  index: { column: "id", entity: "trip" },
  out: "parquet",
});

// The same rows as JSON Lines: a large CSV written as JSONL is parsed in byte ranges on worker threads.
export const rows = dataset({
  src: "trips.csv",
  format: "csv",
  schema: z.object({ id: z.int(), vendor: z.enum(["CMT", "VTS", "DDS"]), zone: z.string(), fare: z.number() }),
  index: { column: "id", entity: "trip" },
});

export const fares = step({ srcs: { trips: ":trips" }, outs: ["total.json"], run: "./fares.ts#total" });
`;

const FARES_TS = `import { writeFileSync } from "node:fs";
import type { StepContext } from "kiln";

/** Sums one column without loading the table: one row group at a time, one column read. */
export async function total(ctx: StepContext) {
  let rows = 0;
  let fare = 0;
  for await (const batch of ctx.readParquet(ctx.srcs.trips as string, { columns: ["fare"] })) {
    for (const row of batch.rows) fare += row.fare as number;
    rows += batch.rows.length;
  }
  writeFileSync(ctx.out("total.json"), JSON.stringify({ rows, fare }));
}
`;

/** Row i of the generated trips; \`zone\` is digits-only text the schema keeps as text. */
function tripLine(i: number): string {
  return `${i},${["CMT", "VTS", "DDS"][i % 3]},${String(i % 263).padStart(3, "0")},${((i * 7919) % 9000) / 100 + 2.5}\n`;
}

/** Row i as the dataset's JSON Lines must hold it: the schema's keys in order, numbers as JSON. */
function tripJson(i: number): string {
  const [id, vendor, zone, fare] = tripLine(i).trimEnd().split(",");
  return `{"id":${id},"vendor":"${vendor}","zone":"${zone}","fare":${Number(fare)}}\n`;
}

/** Writes the CSV; returns the sum of its fares and the SHA-256 of the JSON Lines it must become. */
async function writeTrips(path: string, rows: number): Promise<{ fare: number; jsonlDigest: string }> {
  const out = createWriteStream(path);
  const jsonl = createHash("sha256");
  let text = "id,vendor,zone,fare\n";
  let fare = 0;
  for (let i = 1; i <= rows; i++) {
    text += tripLine(i);
    jsonl.update(tripJson(i));
    fare += ((i * 7919) % 9000) / 100 + 2.5;
    if (text.length > 1 << 20) {
      if (!out.write(text)) await new Promise((resolve) => out.once("drain", resolve));
      text = "";
    }
  }
  await new Promise((resolve) => out.end(text, () => resolve(undefined)));
  return { fare, jsonlDigest: jsonl.digest("hex") };
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** `kiln build --json //...` under GNU time; its peak RSS in MB. */
async function measuredBuild(ws: string, cache: string): Promise<{ code: number | null; stdout: string; stderr: string; peakMb: number }> {
  expect(existsSync("/usr/bin/time"), "GNU time is needed to measure peak RSS: apt-get install -y time").toBe(true);
  const report = join(cache, "..", "time.txt");
  const env = { ...process.env, KILN_CACHE_DIR: cache, NO_COLOR: "1" };
  delete env.KILN_REMOTE_CACHE;
  const run = await collect(spawn("/usr/bin/time", ["-v", "-o", report, KILN_BIN, "build", "--json", "//...", "-C", ws], { cwd: ws, env, stdio: ["ignore", "pipe", "pipe"] }));
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(report, "utf8"))?.[1]);
  return { ...run, peakMb: kb / 1024 };
}

describe(`a ${ROWS.toLocaleString("en")}-row CSV dataset`, () => {
  it(
    "validates into Parquet and JSON Lines (in byte ranges) in bounded memory, and a step reads one column",
    async () => {
      const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "data/BUILD.ts": BUILD_TS, "data/fares.ts": FARES_TS });
      const { fare: expectedFare, jsonlDigest } = await writeTrips(join(f.ws, "data", "trips.csv"), ROWS);
      const run = await measuredBuild(f.ws, f.cache);
      expect(run.code, show({ ...run, signal: null })).toBe(0);
      console.log(`dataset-scale: ${ROWS} rows, peak RSS of the build ${run.peakMb.toFixed(0)} MB`);
      expect(run.peakMb, `peak RSS of the build: ${run.peakMb.toFixed(0)} MB`).toBeLessThan(PEAK_RSS_LIMIT_MB);

      const total = JSON.parse(readFileSync(f.out("data", "fares", "total.json"), "utf8"));
      expect(total.rows).toBe(ROWS);
      expect(total.fare).toBeCloseTo(expectedFare, 0);

      // The JSON Lines copy: every row, in order, byte for byte, whether or not it was parsed in ranges.
      expect(await fileDigest(f.out("data", "rows", "rows.jsonl"))).toBe(jsonlDigest);
      const why = await f.kiln(["why", "//data:rows"]);
      const logPath = /log: (\S+)/.exec(why.stdout)?.[1];
      expect(logPath, show(why)).toBeDefined();
      const log = readFileSync(logPath!, "utf8");
      expect(log).toContain(`trips.csv: ${ROWS} rows valid`);
      if (availableParallelism() > 1) expect(log).toMatch(/parsed in [2-4] byte ranges on worker threads/);

      // DuckDB, a reader kiln did not write, sees the same table (skipped only off CI, where it is missing).
      if (READERS_AVAILABLE) {
        const parquet = f.out("data", "trips", "rows.parquet");
        const query = spawnSync("python3", [PARQUET_TOOL, "duckdb", parquet, "SELECT count(*), count(DISTINCT id), typeof(zone), min(zone), round(sum(fare)) FROM t GROUP BY 3"], { encoding: "utf8" });
        expect(query.status, query.stderr).toBe(0);
        expect(JSON.parse(query.stdout)).toEqual([[ROWS, ROWS, "VARCHAR", "000", Math.round(expectedFare)]]);
      }
    },
    LONG ? 900_000 : 120_000,
  );
});

describe("the schema in the key", () => {
  it("a schema edit reruns the dataset, and kiln why names the schema's digest", async () => {
    const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "data/BUILD.ts": BUILD_TS, "data/fares.ts": FARES_TS });
    f.write({ "data/trips.csv": "id,vendor,zone,fare\n1,CMT,001,2.5\n" });
    expect((await f.build(["//data:trips"])).executed).toEqual(["//data:trips"]);
    f.write({ "data/BUILD.ts": BUILD_TS.replace("fare: z.number()", "fare: z.number().nonnegative()") });
    expect((await f.build(["//data:trips"])).executed).toEqual(["//data:trips"]);
    const why = await f.kiln(["why", "//data:trips"]);
    expect(why.stdout + why.stderr).toContain("params.schemaDigest");
  });
});

describe("bad rows through the CLI", () => {
  it("fail the step naming the file, row, line, column and field, with a count, and no stack trace", async () => {
    const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "data/BUILD.ts": BUILD_TS, "data/fares.ts": FARES_TS });
    f.write({ "data/trips.csv": "id,vendor,zone,fare\n1,CMT,001,2.5\n2,XYZ,002,3\n3,VTS,003,NA\n4,VTS,004\n" });
    const run = await f.kiln(["build", "//data:trips"]);
    // A schema mismatch is the request's fault, not a step's: exit 2, as the contract says.
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain("trips.csv: 3 problems in 4 rows:");
    expect(run.stderr).toContain('row 2 (line 3, column 2): field "vendor": Invalid option: expected one of "CMT"|"VTS"|"DDS"');
    expect(run.stderr).toContain('row 3 (line 4, column 4): field "fare": Invalid input: expected number, received string');
    expect(run.stderr).toContain("row 4 (line 5): expected 4 fields, found 3");
    expect(stackLines(run.stderr)).toEqual([]);
  });
});
