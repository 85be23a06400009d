// The benchmark's trips table, generated: the same N rows as CSV, JSON Lines and Parquet (written
// with hyparquet-writer in row groups of 32k rows, as kiln writes them). Deterministic: row i is
// a function of i, so any two runs and any two formats hold the same data.
import { createWriteStream, existsSync, renameSync } from "node:fs";

export const VENDORS = ["CMT", "VTS", "DDS"];
export const COLUMNS = ["id", "vendor", "pickup_at", "distance_km", "fare"];
const START = Date.UTC(2024, 0, 1);

/** Row i (1-based): ~43 bytes of CSV, 5 columns (the 1M-row file was 41 MB). */
export function trip(i) {
  const h = Math.imul(i, 2654435761) >>> 0;
  return {
    id: i,
    vendor: VENDORS[i % 3],
    pickup_at: new Date(START + (h % 31_536_000) * 1000).toISOString().slice(0, 19) + "Z",
    distance_km: (h % 3000) / 100,
    fare: 2.5 + (h % 8000) / 100,
  };
}

async function writeLines(path, n, header, line) {
  const tmp = `${path}.tmp`;
  const out = createWriteStream(tmp);
  let text = header;
  for (let i = 1; i <= n; i++) {
    text += line(trip(i));
    if (text.length > 1 << 20) {
      if (!out.write(text)) await new Promise((r) => out.once("drain", r));
      text = "";
    }
  }
  await new Promise((r, j) => out.end(text, (e) => (e ? j(e) : r())));
  renameSync(tmp, path);
}

async function writeParquet(path, n) {
  const { ParquetWriter, fileWriter } = await import("hyparquet-writer");
  const tmp = `${path}.tmp`;
  const writer = new ParquetWriter({
    writer: fileWriter(tmp),
    schema: [
      { name: "root", num_children: 5 },
      { name: "id", type: "INT64", repetition_type: "REQUIRED" },
      { name: "vendor", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" },
      { name: "pickup_at", type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" },
      { name: "distance_km", type: "DOUBLE", repetition_type: "REQUIRED" },
      { name: "fare", type: "DOUBLE", repetition_type: "REQUIRED" },
    ],
  });
  const group = 32_768;
  for (let start = 1; start <= n; start += group) {
    const rows = [];
    for (let i = start; i < Math.min(n + 1, start + group); i++) rows.push(trip(i));
    await writer.write({
      columnData: COLUMNS.map((name) => ({ name, data: rows.map((r) => (name === "id" ? BigInt(r.id) : r[name])), statistics: name !== "vendor" && name !== "pickup_at" })),
      rowGroupSize: rows.length,
    });
  }
  await writer.finish();
  renameSync(tmp, path);
}

/** Writes `<dir>/trips-<n>.{csv,jsonl,parquet}` unless they exist; returns their paths. */
export async function ensureTrips(dir, n) {
  const paths = { csv: `${dir}/trips-${n}.csv`, jsonl: `${dir}/trips-${n}.jsonl`, parquet: `${dir}/trips-${n}.parquet` };
  if (!existsSync(paths.csv)) await writeLines(paths.csv, n, COLUMNS.join(",") + "\n", (r) => `${r.id},${r.vendor},${r.pickup_at},${r.distance_km},${r.fare}\n`);
  if (!existsSync(paths.jsonl)) await writeLines(paths.jsonl, n, "", (r) => JSON.stringify(r) + "\n");
  if (!existsSync(paths.parquet)) await writeParquet(paths.parquet, n);
  return paths;
}
