/**
 * What a parked sandbox remembers of itself, in a file at its root: the directories it has (with
 * the mtime that may be trusted), the hard links it keeps and the spare copies, so the next
 * build of its label takes it as it is (sandbox.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const MANIFEST_FILE = ".kiln-sandbox";

/** A hard link kept in the sandbox, and the identity of the file it was made from. */
export interface KeptLink {
  ino: number;
  size: number;
  mtimeMs: number;
}

export interface Manifest {
  /** Directories with the mtime that may be trusted, or undefined. */
  dirs: Map<string, number | undefined>;
  links: Map<string, KeptLink>;
  spares: string[];
}

/**
 * The manifest in binary, not JSON: an aggregator's names 100,000 directories and 100,000 links,
 * and JSON took 0.34 s to write and 0.14 s to read at that size. Layout: the magic (8 bytes),
 * four uint32 (directories, links, spares, bytes of text), the numbers as float64 (a directory's
 * mtime, NaN for none; a link's inode, size and mtime), then every path, NUL-separated (no path
 * holds a NUL), directories first, then links, then spares. Inodes are exact as float64: Node
 * reports them as numbers.
 */
const MANIFEST_MAGIC = Buffer.from("kilnsb02");
const MANIFEST_HEADER = MANIFEST_MAGIC.length + 16;

export function encodeManifest(manifest: Manifest): Buffer {
  const paths = [...manifest.dirs.keys(), ...manifest.links.keys(), ...manifest.spares];
  const text = Buffer.from(paths.join("\0"));
  const numberCount = manifest.dirs.size + 3 * manifest.links.size;
  const out = Buffer.allocUnsafe(MANIFEST_HEADER + 8 * numberCount + text.length);
  MANIFEST_MAGIC.copy(out, 0);
  let at = MANIFEST_MAGIC.length;
  for (const count of [manifest.dirs.size, manifest.links.size, manifest.spares.length, text.length]) at = out.writeUInt32LE(count, at);
  for (const mtimeMs of manifest.dirs.values()) at = out.writeDoubleLE(mtimeMs ?? NaN, at);
  for (const { ino, size, mtimeMs } of manifest.links.values()) {
    at = out.writeDoubleLE(ino, at);
    at = out.writeDoubleLE(size, at);
    at = out.writeDoubleLE(mtimeMs, at);
  }
  text.copy(out, at);
  return out;
}

/** The manifest `encodeManifest` wrote; throws on anything else (a truncated or foreign file). */
export function decodeManifest(bytes: Buffer): Manifest {
  if (bytes.length < MANIFEST_HEADER || !bytes.subarray(0, MANIFEST_MAGIC.length).equals(MANIFEST_MAGIC)) throw new Error("not a sandbox manifest");
  const [dirCount, linkCount, spareCount, textLength] = [0, 1, 2, 3].map((i) => bytes.readUInt32LE(MANIFEST_MAGIC.length + 4 * i)) as [number, number, number, number];
  let at = MANIFEST_HEADER;
  const textStart = at + 8 * (dirCount + 3 * linkCount);
  if (textStart + textLength !== bytes.length) throw new Error("a truncated sandbox manifest");
  const pathCount = dirCount + linkCount + spareCount;
  const paths = pathCount === 0 ? [] : bytes.toString("utf8", textStart).split("\0");
  if (paths.length !== pathCount) throw new Error("a sandbox manifest whose paths do not match its counts");
  const dirs = new Map<string, number | undefined>();
  for (let i = 0; i < dirCount; i++, at += 8) {
    const mtimeMs = bytes.readDoubleLE(at);
    dirs.set(paths[i]!, Number.isNaN(mtimeMs) ? undefined : mtimeMs);
  }
  const links = new Map<string, KeptLink>();
  for (let i = 0; i < linkCount; i++, at += 24) {
    links.set(paths[dirCount + i]!, { ino: bytes.readDoubleLE(at), size: bytes.readDoubleLE(at + 8), mtimeMs: bytes.readDoubleLE(at + 16) });
  }
  return { dirs, links, spares: paths.slice(dirCount + linkCount) };
}

/** The manifest of the sandbox at `dir`, or undefined when it has none that kiln can read. */
export function readManifest(dir: string): Manifest | undefined {
  try {
    return decodeManifest(readFileSync(join(dir, MANIFEST_FILE)));
  } catch {
    return undefined;
  }
}
