/**
 * A deterministic .tar.gz: the same entries give the same bytes, on any day and any machine
 * (sorted entries, ustar headers with mtime 0, owner 0/0, modes 0644/0755; gzip header without a
 * time). Pure: entries in, bytes out. Enough for releases; no links, no long names over 255.
 */
import { gzipSync } from "node:zlib";

export interface TarEntry {
  /** POSIX path; a directory ends with "/". */
  path: string;
  content?: Uint8Array;
}

function header(path: string, size: number, directory: boolean): Buffer {
  const block = Buffer.alloc(512);
  let name = path;
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf("/", path.length - 2 - (directory ? 0 : 0));
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
    if (Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155) throw new Error(`path too long for a tar header: ${path}`);
  }
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0") + "\0";
  block.write(name, 0, 100, "utf8");
  block.write(octal(directory ? 0o755 : 0o644, 8), 100, 8, "ascii");
  block.write(octal(0, 8), 108, 8, "ascii");
  block.write(octal(0, 8), 116, 8, "ascii");
  block.write(octal(size, 12), 124, 12, "ascii");
  block.write(octal(0, 12), 136, 12, "ascii");
  block.write("        ", 148, 8, "ascii");
  block.write(directory ? "5" : "0", 156, 1, "ascii");
  block.write("ustar\0", 257, 6, "ascii");
  block.write("00", 263, 2, "ascii");
  block.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return block;
}

/** The gzipped tar of `entries`, sorted by path. */
export function deterministicTarGz(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const directory = entry.path.endsWith("/");
    const content = directory ? Buffer.alloc(0) : Buffer.from(entry.content ?? new Uint8Array());
    parts.push(header(entry.path, content.length, directory));
    if (content.length > 0) {
      parts.push(content);
      const pad = (512 - (content.length % 512)) % 512;
      if (pad > 0) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts), { level: 9 });
}
