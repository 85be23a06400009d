#!/usr/bin/env node
// The baseline the dataset rows are measured against: what a careful engineer writes by hand.
// CSV and JSONL: readline, split (or JSON.parse), the same zod schema, JSONL out. Parquet:
// hyparquet row group by row group (no readline for a binary format), the same schema, JSONL out.
//   node bench/dataset-baseline.mjs FORMAT SOURCE OUT
import { createReadStream, createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { z } from "zod";

const [format, source, outPath] = process.argv.slice(2);
const vendor = z.enum(["CMT", "VTS", "DDS"]);
const typed = z.object({ id: z.int(), vendor, pickup_at: z.string(), distance_km: z.number(), fare: z.number() });
const fromText = z.object({ id: z.coerce.number().int(), vendor, pickup_at: z.string(), distance_km: z.coerce.number(), fare: z.coerce.number() });

const out = createWriteStream(outPath);
let buffer = "";
let rows = 0;
async function emit(row, schema) {
  const result = schema.safeParse(row);
  if (!result.success) throw new Error(`row ${rows + 1}: ${result.error.issues[0].message}`);
  buffer += JSON.stringify(result.data) + "\n";
  rows++;
  if (buffer.length > 1 << 16) {
    if (!out.write(buffer)) await new Promise((r) => out.once("drain", r));
    buffer = "";
  }
}

if (format === "parquet") {
  const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } = await import("hyparquet");
  const { compressors } = await import("hyparquet-compressors");
  const file = await asyncBufferFromFile(source);
  const metadata = await parquetMetadataAsync(file);
  let start = 0;
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    for (const row of await parquetReadObjects({ file, metadata, rowStart: start, rowEnd: end, compressors })) {
      row.id = Number(row.id);
      await emit(row, typed);
    }
    start = end;
  }
} else {
  let header;
  for await (const line of createInterface({ input: createReadStream(source), crlfDelay: Infinity })) {
    if (format === "jsonl") {
      if (line.trim() !== "") await emit(JSON.parse(line), typed);
      continue;
    }
    const cells = line.split(",");
    if (header === undefined) {
      header = cells;
      continue;
    }
    const row = {};
    for (let i = 0; i < header.length; i++) row[header[i]] = cells[i];
    await emit(row, fromText);
  }
}
await new Promise((r) => out.end(buffer, r));
process.stdout.write(`${rows}\n`);
