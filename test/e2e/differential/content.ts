/**
 * Bytes for the differential test: source contents derived from a seed (so a replayed seed writes
 * the same files), streamed SHA-256 of files (sources reach 64 MiB + 1), and the size pool that
 * straddles every engine threshold.
 */
import { createCipheriv, createHash } from "node:crypto";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import fc from "fast-check";
import { SHARED_INPUT_SIZE, SIZE_THRESHOLDS } from "../../../src/size-thresholds.js";

const CHUNK = 1 << 20;

/** `size` pseudo-random bytes determined by `seed`: an AES-CTR keystream, fast enough for 64 MiB. */
export function seededBytes(seed: number, size: number): Buffer {
  const key = createHash("sha256").update(`kiln-differential-${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** SHA-256 and size of a file, read in chunks. */
export function digestFile(path: string): { size: number; sha256: string } {
  const hash = createHash("sha256");
  const buffer = Buffer.alloc(CHUNK);
  const fd = openSync(path, "r");
  let size = 0;
  try {
    for (let n; (n = readSync(fd, buffer, 0, CHUNK, null)) > 0; size += n) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return { size, sha256: hash.digest("hex") };
}

/** Overwrites `length` bytes at `offset` in place (same inode, same size), each byte changed. */
export function flipBytesInPlace(path: string, offset: number, length: number): void {
  const fd = openSync(path, "r+");
  try {
    const old = Buffer.alloc(length);
    const n = readSync(fd, old, 0, length, offset);
    for (let i = 0; i < n; i++) old[i] = old[i]! ^ 0x5a;
    writeSync(fd, old, 0, n, offset);
  } finally {
    closeSync(fd);
  }
}

/** Sizes on both sides of every engine threshold, plus 0 and 1 (imported, so the test follows when a threshold moves). */
export const THRESHOLD_SIZES: readonly number[] = [
  ...new Set([0, 1, ...SIZE_THRESHOLDS.flatMap((t) => [t - 1, t, t + 1])]),
].sort((a, b) => a - b);

/** Sizes at or above the hard-link threshold cost ~100 ms each to write, hash and copy: kept rare. */
export const isExpensive = (size: number) => size >= SHARED_INPUT_SIZE - 1;

/**
 * A source size: mostly small or around the cheap thresholds, sometimes around the expensive ones.
 * `KILN_FUZZ_BIG_WEIGHT` (default 1, against 20 for the rest) raises how often 64 MiB files appear.
 */
export function sizeArbitrary(): fc.Arbitrary<number> {
  const cheap = THRESHOLD_SIZES.filter((s) => !isExpensive(s));
  const expensive = THRESHOLD_SIZES.filter(isExpensive);
  const bigWeight = Number(process.env.KILN_FUZZ_BIG_WEIGHT ?? 1);
  return fc.oneof(
    { arbitrary: fc.constantFrom(...cheap), weight: 12 },
    { arbitrary: fc.integer({ min: 2, max: 4096 }), weight: 8 },
    ...(bigWeight > 0 ? [{ arbitrary: fc.constantFrom(...expensive), weight: bigWeight }] : []),
  );
}

/** A size for display: `1048577 (1MiB+1)`. */
export function showSize(size: number): string {
  for (const t of SIZE_THRESHOLDS) {
    const mib = `${t / (1 << 20)}MiB`;
    if (size === t) return mib;
    if (size === t - 1) return `${mib}-1`;
    if (size === t + 1) return `${mib}+1`;
  }
  return `${size}B`;
}
