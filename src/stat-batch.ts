/**
 * statPath over a long list of paths, on two threads: the loops that prove a 100,000-target
 * fan-in unchanged stat ~500,000 paths a rebuild (its up-to-date stamp, and the aggregator's
 * sandbox before and after its command), and a stat is a system call that waits on nothing
 * but the CPU. Measured here on 200,000 paths of the fan-in workspace, both cores free:
 * 500-690 ms on one thread, 290-380 ms on two (the paths' bytes copied to shared memory
 * included, ~30 ms).
 *
 * The results are exactly statPath's, in the order of the paths: each thread takes chunks of
 * the list from a shared counter and writes each path's numbers at that path's own offset, so
 * which thread stat'ed a path changes nothing. A list shorter than KILN_STAT_BATCH_FROM (default
 * 20,000), a process where statPath is not the binding, or a worker that cannot start, stats on
 * this thread alone. The worker is started on first use, kept for the process and unref'd.
 */
import type { Worker } from "node:worker_threads";
import { BINDING_OFFSETS as B, S_IFDIR, S_IFMT, S_IFREG, statPath, statPathMethod, type PathStat } from "./stat-path.js";

const DEFAULT_BATCH_FROM = 20_000;
const CHUNK = 512;
/** Numbers per path in the shared results: kind (0 missing, 1 file, 2 directory, 3 other), size, mtimeMs, ino, ctimeMs. */
const WIDTH = 5;

// The worker's loop, as text: kiln's bundles are single files, and a worker needs code of its
// own. It reads Node's fs binding as stat-path.ts does, with its offsets and mode bits.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const stat = process.binding("fs").stat;
parentPort.on("message", ({ bytes, offsets, results, control, count }) => {
  const text = Buffer.from(bytes);
  const at = new Int32Array(offsets);
  const out = new Float64Array(results);
  const counter = new Int32Array(control);
  for (;;) {
    const from = Atomics.add(counter, 0, 1) * ${CHUNK};
    if (from >= count) break;
    const to = Math.min(count, from + ${CHUNK});
    for (let i = from; i < to; i++) {
      const v = stat(text.toString("utf8", at[i], at[i + 1]), false, undefined, false);
      const o = ${WIDTH} * i;
      if (v === undefined) { out[o] = 0; continue; }
      const type = v[${B.MODE}] & ${S_IFMT};
      out[o] = type === ${S_IFREG} ? 1 : type === ${S_IFDIR} ? 2 : 3;
      out[o + 1] = v[${B.SIZE}];
      out[o + 2] = v[${B.MTIME_SEC}] * 1e3 + v[${B.MTIME_NSEC}] / 1e6;
      out[o + 3] = v[${B.INO}];
      out[o + 4] = v[${B.CTIME_SEC}] * 1e3 + v[${B.CTIME_NSEC}] / 1e6;
    }
  }
  Atomics.store(counter, 1, 1);
  Atomics.notify(counter, 1);
});`;

/** What the last batch did, for tests: how many of its chunks the worker stat'ed. */
export const lastBatch = { chunks: 0, byWorker: 0 };

let worker: Worker | undefined;
let workerFailed = false;

function batchFrom(): number {
  const configured = Number(process.env.KILN_STAT_BATCH_FROM);
  return Number.isInteger(configured) && configured > 0 ? configured : DEFAULT_BATCH_FROM;
}

function sharedWorker(): Worker | undefined {
  if (worker || workerFailed) return worker;
  try {
    // Loaded only here: node:worker_threads costs ~3 ms to load, and the no-op fast path
    // (which shares this module) never stats enough paths to want it.
    // Older Node 20 releases lack getBuiltinModule: they stat on one thread.
    if (typeof process.getBuiltinModule !== "function") throw new Error("no process.getBuiltinModule");
    const threads = process.getBuiltinModule("node:worker_threads") as typeof import("node:worker_threads");
    worker = new threads.Worker(WORKER_SOURCE, { eval: true, stdout: false, stderr: false });
    worker.unref();
    // A worker that dies (out of memory, killed) is not used again; a batch waiting on it is
    // not left waiting (see statPaths' timeout).
    worker.on("error", () => {
      workerFailed = true;
      worker = undefined;
    });
    worker.on("exit", () => {
      workerFailed = true;
      worker = undefined;
    });
  } catch {
    workerFailed = true;
  }
  return worker;
}

/** Each path's statPath result, in order. */
export function statPaths(paths: readonly string[]): (PathStat | undefined)[] {
  const helper = paths.length >= batchFrom() && statPathMethod === "binding" && !paths.some((path) => path.includes("\0")) ? sharedWorker() : undefined;
  if (!helper) return paths.map((path) => statPath(path));

  const count = paths.length;
  const offsets = new Int32Array(new SharedArrayBuffer(4 * (count + 1)));
  let length = 0;
  for (let i = 0; i < count; i++) {
    offsets[i] = length;
    length += Buffer.byteLength(paths[i]!);
  }
  offsets[count] = length;
  const bytes = new SharedArrayBuffer(length);
  Buffer.from(bytes).write(paths.join(""), "utf8");
  const results = new Float64Array(new SharedArrayBuffer(8 * WIDTH * count));
  const counter = new Int32Array(new SharedArrayBuffer(8));
  const taken = new Uint8Array(Math.ceil(count / CHUNK));
  helper.postMessage({ bytes, offsets: offsets.buffer, results: results.buffer, control: counter.buffer, count });

  const stats: (PathStat | undefined)[] = new Array(count);
  for (;;) {
    const chunk = Atomics.add(counter, 0, 1);
    const from = chunk * CHUNK;
    if (from >= count) break;
    taken[chunk] = 1;
    for (let i = from; i < Math.min(count, from + CHUNK); i++) stats[i] = statPath(paths[i]!);
  }
  lastBatch.chunks = taken.length;
  lastBatch.byWorker = 0;
  // All taken here (the worker was still starting): nothing to wait for; it will find none left.
  if (taken.every((here) => here === 1)) return stats;
  // The worker finishes the chunks it took; if it died meanwhile, this thread stats them.
  if (Atomics.wait(counter, 1, 0, 10_000) === "timed-out" || workerFailed) {
    for (let i = 0; i < count; i++) if (!taken[Math.floor(i / CHUNK)]) stats[i] = statPath(paths[i]!);
    return stats;
  }
  for (let chunk = 0; chunk < taken.length; chunk++) {
    if (taken[chunk]) continue;
    lastBatch.byWorker++;
    for (let i = chunk * CHUNK; i < Math.min(count, (chunk + 1) * CHUNK); i++) {
      const o = WIDTH * i;
      const kind = results[o]!;
      stats[i] =
        kind === 0
          ? undefined
          : { size: results[o + 1]!, mtimeMs: results[o + 2]!, ino: results[o + 3]!, ctimeMs: results[o + 4]!, isFile: kind === 1, isDirectory: kind === 2 };
    }
  }
  return stats;
}
