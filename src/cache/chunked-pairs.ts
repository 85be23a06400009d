/**
 * Long lists of (path, value) pairs stored as shared chunks. An aggregator's ingredients list
 * 100,000 inputs and its origins 100,000 dependencies; stored whole, every rebuild after one leaf
 * changed added ~19 MB to the cache's index (LMDB files never shrink), while all but one entry
 * were the same as last time. Split into chunks named by their content, a rebuild stores the one
 * chunk whose entry changed and a list of names.
 *
 * Boundaries are content-defined, by a hash of each entry's path (not every Nth entry), so an
 * input added or removed changes the chunk it falls in, not every chunk after it. A chunk ends
 * after a path whose hash is 0 modulo AVERAGE_CHUNK, or at MAX_CHUNK entries.
 *
 * Pure: lists in, chunks and names out.
 */
import { digestBytes } from "../key/digest.js";

/** Lists shorter than this stay inline in their record, as before chunks existed. */
export const CHUNKED_FROM = 2048;
const AVERAGE_CHUNK = 1024;
const MAX_CHUNK = 4 * AVERAGE_CHUNK;

export type Pair = [string, string];

export interface Chunk {
  /** SHA-256 of the chunk's JSON: the name it is stored under. */
  name: string;
  pairs: Pair[];
}

/** 32 bits of FNV-1a over a string's UTF-16 code units: a boundary test, not a digest. */
function pathHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** `pairs` cut into named chunks (see the module comment); joined in order they are `pairs` again. */
export function chunkPairs(pairs: readonly Pair[]): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0;
  for (let i = 0; i < pairs.length; i++) {
    const end = i + 1;
    if (end === pairs.length || end - start >= MAX_CHUNK || pathHash(pairs[i]![0]) % AVERAGE_CHUNK === 0) {
      const slice = pairs.slice(start, end) as Pair[];
      chunks.push({ name: digestBytes(JSON.stringify(slice)), pairs: slice });
      start = end;
    }
  }
  return chunks;
}

/** The pairs of `names` in order, or undefined when a chunk is missing or not a list of pairs. */
export function joinChunks(names: readonly string[], chunkOf: (name: string) => unknown): Pair[] | undefined {
  const pairs: Pair[] = [];
  for (const name of names) {
    const chunk = chunkOf(name);
    if (!Array.isArray(chunk)) return undefined;
    for (const pair of chunk) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") return undefined;
      pairs.push(pair as Pair);
    }
  }
  return pairs;
}
