// The dataset rows of the benchmark: kiln's `dataset` build of one generated trips table (CSV,
// JSON Lines, Parquet) beside a hand-written streaming baseline (bench/dataset-baseline.mjs) in
// the same run, each a whole command under GNU time: seconds, rows/s, peak RSS. Before a time is
// reported, kiln's rows.jsonl must be byte-identical to the baseline's output. Called by run.mjs.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeResultsSection } from "./results-section.mjs";
import { fileURLToPath } from "node:url";
import { availableParallelism, loadavg } from "node:os";
import { ensureTrips } from "./dataset-data.mjs";

const BENCH = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(BENCH);
const KILN_BIN = join(REPO, "bin", "kiln.cjs");
const BEGIN = "<!-- datasets:begin -->";
const END = "<!-- datasets:end -->";

const BUILD_TS = `import { dataset } from "kiln";
import { z } from "zod";

const schema = z.object({ id: z.int(), vendor: z.enum(["CMT", "VTS", "DDS"]), pickup_at: z.string(), distance_km: z.number(), fare: z.number() });
const index = { column: "id", entity: "trip" };

export const csv = dataset({ src: "trips.csv", format: "csv", schema, index });
export const jsonl = dataset({ src: "trips.jsonl", format: "jsonl", schema, index });
export const parquet = dataset({ src: "trips.parquet", format: "parquet", schema, index });
export const csv_to_parquet = dataset({ src: "trips.csv", format: "csv", schema, index, out: "parquet" });
`;

/** [format of the source, kiln target, output file] for each row of the table. */
const CASES = [
  ["csv", "csv", "rows.jsonl"],
  ["jsonl", "jsonl", "rows.jsonl"],
  ["parquet", "parquet", "rows.jsonl"],
  ["csv", "csv_to_parquet", "rows.parquet"],
];

async function fileDigest(path) {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk);
  return hash.digest("hex");
}

function rmrf(path) {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    rmSync(path, { recursive: true, force: true, maxRetries: 2 });
  }
}

/**
 * @param {{ quick: boolean, work: string, results: string, timed: Function, fail: Function, log: Function, argv: string }} o
 */
export async function runDatasetBench(o) {
  const loadBefore = loadavg()[0];
  const sizes = o.quick ? [200_000] : [1_000_000, 10_000_000];
  const root = join(o.work, "datasets");
  mkdirSync(root, { recursive: true });
  const rows = [];
  for (const n of sizes) {
    o.log(`datasets: generating ${n} rows as CSV, JSONL and Parquet (kept in ${root} for the next run)`);
    const data = await ensureTrips(root, n);
    const ws = join(root, `ws-${n}`);
    rmrf(ws);
    mkdirSync(join(ws, "data"), { recursive: true });
    writeFileSync(join(ws, "WORKSPACE.ts"), `import { workspace } from "kiln";\nexport default workspace({ name: "datasets-bench" });\n`);
    writeFileSync(join(ws, "data", "BUILD.ts"), BUILD_TS);
    for (const format of ["csv", "jsonl", "parquet"]) linkSync(data[format], join(ws, "data", `trips.${format}`));
    const runs = o.quick || n > 1_000_000 ? 1 : 3;
    for (const [format, target, outName] of CASES) {
      const baselineOut = join(root, `baseline-${format}.jsonl`);
      const measured = { baseline: [], kiln: [] };
      for (let run = 0; run < runs; run++) {
        // kiln first on even runs, the baseline first on odd ones: neither always gets the warm cache.
        const order = run % 2 === 0 ? ["kiln", "baseline"] : ["baseline", "kiln"];
        for (const who of order) {
          if (who === "baseline" && target === "csv_to_parquet") continue; // the baseline writes JSONL only
          if (who === "kiln") {
            for (const p of ["kiln-out", ".kiln", "../cache"]) rmrf(join(ws, p));
            const r = o.timed([KILN_BIN, "build", `//data:${target}`, "-C", ws, "-j", "2"], { ...process.env, KILN_CACHE_DIR: join(root, "cache"), NO_COLOR: "1" });
            if (r.status !== 0) o.fail(`kiln build //data:${target} (${n} rows) exited ${r.status}:\n${r.stderr.slice(-3000)}`);
            measured.kiln.push(r);
          } else {
            const r = o.timed([process.execPath, join(BENCH, "dataset-baseline.mjs"), format, data[format], baselineOut], process.env);
            if (r.status !== 0) o.fail(`the ${format} baseline (${n} rows) exited ${r.status}:\n${r.stderr.slice(-3000)}`);
            if (Number(r.stdout.trim()) !== n) o.fail(`the ${format} baseline wrote ${r.stdout.trim()} rows, expected ${n}`);
            measured.baseline.push(r);
          }
        }
      }
      const kilnOut = join(ws, "kiln-out", "data", target, outName);
      if (!existsSync(kilnOut)) o.fail(`kiln wrote no ${kilnOut}`);
      if (outName === "rows.jsonl" && (await fileDigest(kilnOut)) !== (await fileDigest(baselineOut))) {
        o.fail(`kiln's ${target} rows.jsonl differs from the ${format} baseline's output (${n} rows)`);
      }
      const median = (xs) => [...xs].sort((a, b) => a.ms - b.ms)[Math.floor(xs.length / 2)];
      const summary = (xs) => (xs.length === 0 ? undefined : { s: median(xs).ms / 1000, rssKb: Math.max(...xs.map((x) => x.rssKb ?? 0)) || null });
      rows.push({ n, format, target, out: outName, runs, baseline: summary(measured.baseline), kiln: summary(measured.kiln) });
      const k = rows.at(-1);
      o.log(`datasets: ${n} ${target}: kiln ${k.kiln.s.toFixed(2)} s${k.baseline ? `, baseline ${k.baseline.s.toFixed(2)} s` : ""}`);
    }
    rmrf(ws);
  }
  rmrf(join(root, "cache"));
  writeSection(o, rows, [loadBefore, loadavg()[0]]);
  return rows;
}

const mib = (kb) => (kb == null ? "-" : String(Math.round(kb / 1024)));
const rate = (n, s) => `${Math.round(n / s / 1000)}k`;

function writeSection(o, rows, load) {
  const table = [
    ["rows", "source", "kiln output", "baseline s", "baseline rows/s", "baseline peak RSS MiB", "kiln s", "kiln rows/s", "kiln peak RSS MiB", "kiln/baseline"],
    ...rows.map((r) => [
      r.n.toLocaleString("en"),
      r.format,
      r.out,
      r.baseline ? r.baseline.s.toFixed(2) : "-",
      r.baseline ? rate(r.n, r.baseline.s) : "-",
      r.baseline ? mib(r.baseline.rssKb) : "-",
      r.kiln.s.toFixed(2),
      rate(r.n, r.kiln.s),
      mib(r.kiln.rssKb),
      r.baseline ? `${(r.kiln.s / r.baseline.s).toFixed(2)}x` : "-",
    ]),
  ];
  const markdown = [table[0], table[0].map((_, c) => (c >= 3 ? "---:" : "---")), ...table.slice(1)].map((r) => `| ${r.join(" | ")} |`).join("\n");
  writeResultsSection(o.results, BEGIN, END, [
    "<!-- generated by bench/datasets.mjs (npm run bench); edit outside the markers -->",
    `Datasets, run ${new Date().toISOString()} with \`${o.argv}\`${o.quick ? " (quick: 200k rows, a smoke test)" : ""}: one trips table (5 columns, ~43 bytes a CSV row), ` +
      `each cell the median of ${o.quick ? 1 : "3 runs at 1M and 1 run at 10M"} whole commands (kiln: a cold \`kiln build //data:<target>\`, its cache, kiln-out and .kiln removed first, so it hashes the source too). ` +
      "Baseline: bench/dataset-baseline.mjs (readline + split or JSON.parse + the same zod schema + JSONL out; for Parquet, hyparquet row groups), one thread. " +
      `kiln parses a source written as JSONL in parts on worker threads, one a core (${availableParallelism()} here; at most 4). kiln's rows.jsonl is checked byte-identical to the baseline's output. ` +
      `Load average (1 min) ${load[0].toFixed(1)} at the start, ${load[1].toFixed(1)} at the end.`,
    "",
    markdown,
  ]);
}
