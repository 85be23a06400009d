#!/usr/bin/env node
// Hashing benchmark: kiln's file digest (src/key/digest.ts) against node:crypto's one-shot
// SHA-256 of the same bytes already in memory, on a 256 MiB file (page cache warm).
// Goal (issue 4): >= 80% of node:crypto's throughput. Run: npm run build && node bench/hash.mjs
import { createHash, hash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { digestFile } from "../dist/src/key/file-digest.js";

const SIZE = 256 << 20;
const dir = mkdtempSync(join(tmpdir(), "kiln-hash-"));
const file = join(dir, "blob.bin");
const data = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i += 4096) data.writeUInt32LE((i * 2654435761) >>> 0, i);
writeFileSync(file, data);

async function median(fn, runs = 5) {
  await fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
}
const rate = (ms) => `${((SIZE / (1 << 20)) / (ms / 1000)).toFixed(0)} MiB/s`;
const inMemory = readFileSync(file);
const oneShot = await median(() => hash("sha256", inMemory));
const kiln = await median(() => digestFile(file));
// The alternative measured: synchronous reads into one reused 1 MiB buffer.
const syncReads = await median(() => {
  const h = createHash("sha256");
  const fd = openSync(file, "r");
  const chunk = Buffer.allocUnsafe(1 << 20);
  for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0; ) h.update(n === chunk.length ? chunk : chunk.subarray(0, n));
  closeSync(fd);
  h.digest("hex");
});
console.log(`node:crypto one-shot, in memory:   ${rate(oneShot)}`);
console.log(`kiln digestFile (1 MiB read stream): ${rate(kiln)}  = ${((oneShot / kiln) * 100).toFixed(0)}% of one-shot`);
console.log(`sync reads, one 1 MiB buffer:       ${rate(syncReads)}  = ${((oneShot / syncReads) * 100).toFixed(0)}% of one-shot`);
rmSync(dir, { recursive: true, force: true });
