/**
 * A source file as decoded text chunks, read once: each chunk of bytes is hashed and decoded in
 * the same pass, so the digest names exactly the bytes that were parsed, and no second read is
 * needed. The decoder is a streaming one (a UTF-8 character split across two chunks stays
 * whole) and a fatal one (invalid UTF-8 is an error, not silently U+FFFD).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { DatasetError } from "./errors.js";

/** 1 MiB reads: 64 KiB stream chunks cap reads near 600 MB/s (FINDINGS.md). */
const CHUNK_BYTES = 1 << 20;
/**
 * Text is handed on in pieces of 32 Ki characters: a batch's rows then die young. With whole
 * 1 MiB chunks (~25k rows a batch) the rows outlived V8's young generation and garbage collection
 * took 2.5 of 6 s on a 1M-row CSV.
 */
const PIECE_CHARS = 1 << 15;

export interface SourceText {
  /** Decoded text, one chunk at a time; the byte order mark is left out. */
  chunks: AsyncIterable<string>;
  /** The SHA-256 (hex) of every byte read, once `chunks` is exhausted. */
  digest(): string;
}

export function readSourceText(path: string): SourceText {
  const hash = createHash("sha256");
  let digest: string | undefined;
  async function* chunks(): AsyncGenerator<string> {
    yield* decodedPieces(path, [{ start: 0, end: Infinity }], true, (bytes) => hash.update(bytes));
    digest = hash.digest("hex");
  }
  return {
    chunks: chunks(),
    digest: () => {
      if (digest === undefined) throw new Error("readSourceText: digest() before the text was read to its end");
      return digest;
    },
  };
}

/** Bytes [start, end) of a file. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Decoded text of byte ranges of a file, read in order as one stream and not hashed: a worker's
 * share of a source (parallel-ranges.ts), its ranges starting on line starts. `leadingBom` says
 * whether the first range starts the file, where a byte order mark is left out; anywhere else a
 * U+FEFF is text, as the whole file's decoder would see it.
 */
export function readTextRanges(path: string, ranges: readonly ByteRange[], leadingBom: boolean): AsyncGenerator<string> {
  return decodedPieces(path, ranges, leadingBom);
}

/** The ranges' bytes decoded as one text, in pieces of PIECE_CHARS; each read handed to `onBytes` first. */
async function* decodedPieces(path: string, ranges: readonly ByteRange[], leadingBom: boolean, onBytes?: (bytes: Buffer) => void): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: !leadingBom });
  let offset = 0;
  for (const range of ranges) {
    if (range.end <= range.start) continue;
    offset = range.start;
    for await (const bytes of createReadStream(path, { start: range.start, end: range.end - 1, highWaterMark: CHUNK_BYTES })) {
      onBytes?.(bytes as Buffer);
      const text = decode(decoder, bytes as Buffer, offset);
      for (let start = 0; start < text.length; start += PIECE_CHARS) yield text.slice(start, start + PIECE_CHARS);
      offset += (bytes as Buffer).length;
    }
  }
  const rest = decode(decoder, undefined, offset);
  if (rest.length > 0) yield rest;
}

function decode(decoder: TextDecoder, bytes: Buffer | undefined, offset: number): string {
  try {
    return bytes === undefined ? decoder.decode() : decoder.decode(bytes, { stream: true });
  } catch {
    const end = offset + (bytes?.length ?? 0);
    throw new DatasetError(`the file is not valid UTF-8 (between bytes ${offset} and ${end}); re-encode it as UTF-8`);
  }
}
