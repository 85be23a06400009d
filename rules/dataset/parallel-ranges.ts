/**
 * A large source parsed in parts side by side, one worker thread a part, as DuckDB and polars
 * read CSV: on 2 cores a 1M-row CSV took half the time of one pass. A CSV or JSON Lines file is
 * split into byte ranges at line starts; a Parquet file into runs of whole row groups.
 *
 * The output must be the bytes one pass writes, whatever the thread count (the count is not in
 * the key), so this path gives up, and the caller parses in one pass, whenever it cannot be sure:
 *   - for CSV, this thread counts quotes while the workers run, and a range start inside a
 *     quoted field (a field with a newline in it) discards the attempt;
 *   - any problem in any part (a bad row, bad UTF-8, a header or columns that do not fit) gives
 *     up at once, so that every message, with its row and line numbers, comes from the one pass;
 *   - index values must rise within each part and from part to part (range-bounds.ts), which
 *     proves them unique; rows numbered by kiln (an assigned index) need the rows before them
 *     counted, so text is then parsed in one pass (Parquet's groups say how many rows they hold).
 * Each worker writes its rows to a part file beside the output; this thread hashes the source
 * meanwhile (the digest is of the whole file, read once here) and joins the parts in order.
 *
 * A worker runs this same module: in a step, the step's bundle, so the code that parses is the
 * code in the step's key.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";
import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { digestFile } from "../../src/key/file-digest.js";
import { sourceColumnsProblem } from "./columns.js";
import { parquetRows, planDataset, textRows, writeValidRows, type DatasetPlan, type DatasetSummary } from "./dataset-pass.js";
import { DatasetError, ProblemLog } from "./errors.js";
import { JsonlSink } from "./jsonl-sink.js";
import type { DatasetParams } from "./params.js";
import { openParquet, type OpenedParquet } from "./parquet-file.js";
import { groupRuns, QuoteParity, RisingKeys, spansOverlap, tentativeStarts, type KeySpan } from "./range-bounds.js";
import { readTextRanges, type ByteRange } from "./source-text.js";

export interface ParallelOptions {
  /** Worker threads (ranges); 1 parses in one pass. Default: the cores Node may use, at most 4. */
  threads?: number;
  /** Smaller sources are parsed in one pass: starting workers (~50 ms each) would cost more than they save. */
  minBytes?: number;
  /** A worker's old-generation limit in MB (tests set a tiny one to see a worker run out). */
  workerHeapMb?: number;
}

/**
 * A Parquet worker's old generation, capped: V8 otherwise lets each heap grow long before it
 * collects, and two Parquet workers reached 319 MB at 10M rows (233 MB capped at 64, as fast).
 * Text workers stay flat uncapped (216-220 MB at 10M; capped at 64 MB: 8% slower). A worker that
 * runs out is ended by Node, not the process, and the one pass runs instead.
 */
const PARQUET_WORKER_HEAP_MB = 64;
/**
 * Uncompressed bytes of the largest row group a worker may hold: its decoded columns are JS
 * values, a few times the bytes. Larger groups (pyarrow writes up to 1M rows) are read one at a
 * time, in one pass, so memory stays one group.
 */
const MAX_PARALLEL_GROUP_BYTES = 48 << 20;

export const DEFAULT_MIN_PARALLEL_BYTES = 16 << 20;
const MAX_DEFAULT_THREADS = 4;
const WORKER_KIND = "kiln-dataset-range";
/** A line longer than this around a range's tentative start: parse in one pass. */
const MAX_LINE_SEARCH = 1 << 20;

export type RangesOutcome = { summary: DatasetSummary } | { sequentialBecause?: string };

/** What one worker parses: byte ranges of a text source (each from a line start), or row groups. */
type RangeSource = { kind: "text"; ranges: ByteRange[]; leadingBom: boolean } | { kind: "parquet"; groups: { first: number; end: number } };

interface RangeTask {
  kind: typeof WORKER_KIND;
  sourcePath: string;
  params: DatasetParams;
  source: RangeSource;
  partPath: string;
}

type RangeReply = { ok: true; rows: number; keys: KeySpan } | { ok: false; reason: string };

export async function normaliseInRanges(sourcePath: string, params: DatasetParams, plan: DatasetPlan, outPath: string, options: ParallelOptions): Promise<RangesOutcome> {
  if (params.format === "json" || params.out === "parquet") return {};
  const threads = options.threads ?? Math.min(availableParallelism(), MAX_DEFAULT_THREADS);
  const size = (await stat(sourcePath)).size;
  if (threads < 2 || size < (options.minBytes ?? DEFAULT_MIN_PARALLEL_BYTES)) return {};
  const split = params.format === "parquet" ? await splitRowGroups(sourcePath, threads, plan) : await splitText(sourcePath, size, threads, params.format === "csv", plan);
  if (typeof split === "string") return { sequentialBecause: split };

  const partPaths = split.sources.map((_, i) => `${outPath}.part-${i}`);
  const heapMb = options.workerHeapMb ?? (params.format === "parquet" ? PARQUET_WORKER_HEAP_MB + split.groupMb * 4 : undefined);
  const workers = split.sources.map((source, i) => new RangeWorker({ kind: WORKER_KIND, sourcePath, params, source, partPath: partPaths[i]! }, heapMb));
  try {
    // Only CSV has quotes to count; any other source is just hashed.
    const scan = split.quoteStarts.length > 0 ? scanSource(sourcePath, split.quoteStarts) : digestFile(sourcePath);
    // Whichever problem comes first ends the attempt: a start inside quotes, or a part that gave up.
    const problem = await firstDefined([
      scan.then((s) => ("insideQuotesAt" in s ? `a quoted field spans byte ${s.insideQuotesAt}` : undefined)),
      ...workers.map((worker) => worker.reply.then((r) => (r.ok ? undefined : r.reason))),
    ]);
    if (problem !== undefined) return { sequentialBecause: problem };
    // No problem: the scan gave a digest and every part succeeded.
    const { digest } = (await scan) as { digest: string };
    const results = (await Promise.all(workers.map((worker) => worker.reply))) as Extract<RangeReply, { ok: true }>[];
    const overlap = params.index && !plan.assignIndex ? spansOverlap(results.map((r) => r.keys)) : undefined;
    if (overlap !== undefined) return { sequentialBecause: overlap };
    await joinParts(partPaths, outPath);
    const rows = results.reduce((sum, r) => sum + r.rows, 0);
    return { summary: { rows, sourceDigest: digest, ranges: workers.length } };
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await Promise.all(partPaths.map((path) => rm(path, { force: true })));
  }
}

/** The parts, the CSV positions to check for quotes, and the largest Parquet row group in MB (0 for text). */
type Split = { sources: RangeSource[]; quoteStarts: number[]; groupMb: number } | string;

/** A text source in byte ranges from line starts; for CSV, every range but the first reads the header line first. */
async function splitText(path: string, size: number, parts: number, csv: boolean, plan: DatasetPlan): Promise<Split> {
  if (plan.assignIndex) return "rows numbered by kiln are counted in one pass";
  const layout = await rangeLayout(path, size, parts, csv);
  if (typeof layout === "string") return layout;
  const bounds = [0, ...layout.starts, size];
  const sources = bounds.slice(0, -1).map((start, i): RangeSource => {
    const own = { start, end: bounds[i + 1]! };
    const ranges = i > 0 && layout.headerEnd > 0 ? [{ start: 0, end: layout.headerEnd }, own] : [own];
    return { kind: "text", ranges, leadingBom: ranges[0]!.start === 0 };
  });
  // The header line too: a header with a newline inside quotes does not end where its line does.
  return { sources, quoteStarts: csv ? [layout.headerEnd, ...layout.starts] : [], groupMb: 0 };
}

/**
 * Parquet in runs of whole row groups of about equal rows. Row numbers are known from the
 * groups' sizes, so rows numbered by kiln need no one pass here.
 */
async function splitRowGroups(path: string, parts: number, plan: DatasetPlan): Promise<Split> {
  let file: OpenedParquet;
  try {
    file = await openParquet(path);
  } catch {
    return "the file's metadata did not read";
  }
  await file.close();
  if (plan.columns && sourceColumnsProblem(file.columns, plan.columns)) return "its columns do not fit the schema";
  const largest = Math.max(...file.groupBytes);
  if (largest > MAX_PARALLEL_GROUP_BYTES) return `its row groups are large (up to ${Math.round(largest / (1 << 20))} MB uncompressed): one at a time`;
  const runs = groupRuns(file.groupRows, parts);
  if (runs.length < 2) return "it has one row group";
  return { sources: runs.map((groups): RangeSource => ({ kind: "parquet", groups })), quoteStarts: [], groupMb: Math.ceil(largest / (1 << 20)) };
}

/**
 * Range starts moved to the next line start, and the end of the CSV header line; or why the
 * file cannot be split (a line longer than MAX_LINE_SEARCH, or too few lines for the ranges).
 */
async function rangeLayout(path: string, size: number, parts: number, csv: boolean): Promise<{ starts: number[]; headerEnd: number } | string> {
  const file = await open(path, "r");
  try {
    const headerEnd = csv ? await lineStartAfter(file, 0, size) : 0;
    if (headerEnd === undefined) return "the header line is too long to find its end";
    const starts: number[] = [];
    for (const tentative of tentativeStarts(size, parts)) {
      const start = await lineStartAfter(file, Math.max(tentative, headerEnd), size);
      if (start === undefined) return "a line is too long to split the file there";
      if (start < size && start > (starts.at(-1) ?? headerEnd)) starts.push(start);
    }
    return starts.length > 0 ? { starts, headerEnd } : "too few lines to split";
  } finally {
    await file.close();
  }
}

/** The offset just after the first newline at or after `from` (`size` if none); undefined past the search limit. */
async function lineStartAfter(file: import("node:fs/promises").FileHandle, from: number, size: number): Promise<number | undefined> {
  const buffer = Buffer.alloc(64 << 10);
  for (let at = from; at < size && at - from < MAX_LINE_SEARCH; ) {
    const { bytesRead } = await file.read(buffer, 0, buffer.length, at);
    if (bytesRead === 0) break;
    const newline = buffer.subarray(0, bytesRead).indexOf(10);
    if (newline !== -1) return at + newline + 1;
    at += bytesRead;
  }
  return size - from < MAX_LINE_SEARCH ? size : undefined;
}

/** One front-to-back read of a CSV source: its SHA-256, or the first of `starts` inside quotes. */
async function scanSource(path: string, starts: number[]): Promise<{ digest: string } | { insideQuotesAt: number }> {
  const hash = createHash("sha256");
  const parity = new QuoteParity(starts);
  for await (const bytes of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(bytes as Buffer);
    if (!parity.settled) {
      parity.push(bytes as Buffer);
      if (parity.insideQuotesAt !== undefined) return { insideQuotesAt: parity.insideQuotesAt };
    }
  }
  return { digest: hash.digest("hex") };
}

/** The first value that is not undefined, as soon as one comes; undefined once all came without one. */
function firstDefined<T>(promises: readonly Promise<T | undefined>[]): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    let pending = promises.length;
    for (const promise of promises) {
      promise.then((value) => {
        if (value !== undefined) resolve(value);
        else if (--pending === 0) resolve(undefined);
      }, reject);
    }
  });
}

/** The parts, in order, as the output: the first renamed into place, the others appended. */
async function joinParts(partPaths: string[], outPath: string): Promise<void> {
  await rename(partPaths[0]!, outPath);
  for (const part of partPaths.slice(1)) {
    await pipeline(createReadStream(part, { highWaterMark: 1 << 22 }), createWriteStream(outPath, { flags: "a", highWaterMark: 1 << 22 }));
  }
}

/** One range's worker thread and its one reply; a worker that dies without one gave up. */
class RangeWorker {
  readonly reply: Promise<RangeReply>;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(task: RangeTask, heapMb: number | undefined) {
    // A small young generation: a text batch's rows die young anyway, and with V8's default (up
    // to 32 MB a thread) two workers put a 1M-row CSV at 240-290 MB instead of ~200. A Parquet
    // row group's decoded columns outlive many batches: at 8 MB they were copied and promoted
    // (+0.5 s of CPU a million rows), at 16 MB no slower than the default, ~30 MB smaller.
    const youngMb = task.source.kind === "parquet" ? 16 : 8;
    this.worker = new Worker(fileURLToPath(import.meta.url), { workerData: task, resourceLimits: { maxYoungGenerationSizeMb: youngMb, ...(heapMb ? { maxOldGenerationSizeMb: heapMb } : {}) } });
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
    this.reply = new Promise((resolve) => {
      this.worker.once("message", (reply: RangeReply) => resolve(reply));
      this.worker.once("error", (error) => resolve({ ok: false, reason: `a range's worker failed: ${error.message}` }));
      this.worker.once("exit", (code) => resolve({ ok: false, reason: `a range's worker exited (code ${code})` }));
    });
  }

  /** Ends the thread (at once if it is still parsing) and waits until it is gone. */
  async stop(): Promise<void> {
    await this.worker.terminate();
    await this.exited;
  }
}

/** The worker side: parse one range into its part file, and say how it went. */
async function parseRange(task: RangeTask): Promise<RangeReply> {
  const params = task.params;
  const plan = planDataset(params);
  // The first problem ends the attempt: the one pass will report them all, with row numbers.
  const problems = new ProblemLog(1);
  const keys = new RisingKeys();
  const column = params.index && !plan.assignIndex ? params.index.column : undefined;
  const sink = new JsonlSink(task.partPath);
  let header: readonly string[] | undefined;
  const source = task.source;
  const batches =
    source.kind === "parquet"
      ? parquetRows(await openParquet(task.sourcePath), source.groups)
      : textRows(readTextRanges(task.sourcePath, source.ranges, source.leadingBom), params, plan.columns, problems, (names) => (header = names));
  const rows = await writeValidRows(batches, params, plan, problems, sink, () => header, (valid) => {
    if (column === undefined) return;
    for (const row of valid) if (!keys.add(row[column])) throw new GiveUp("index values that do not rise within a part of the file");
  });
  await sink.close();
  return { ok: true, rows, keys: keys.span() };
}

class GiveUp extends Error {}

if (!isMainThread && (workerData as { kind?: unknown } | null)?.kind === WORKER_KIND) {
  // After this module (and, in a step's bundle, every module after it) has been evaluated.
  setImmediate(() => {
    parseRange(workerData as RangeTask).then(
      (reply) => parentPort!.postMessage(reply),
      (error: unknown) => {
        const reason = error instanceof DatasetError ? "a problem in the data" : error instanceof GiveUp ? error.message : `a range failed: ${String(error)}`;
        parentPort!.postMessage({ ok: false, reason } satisfies RangeReply);
      },
    );
  });
}
