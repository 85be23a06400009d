/**
 * Replaces a small file's content in place, keeping its inode and blocks. On ext4 mounted with
 * `discard` (these machines), writeFileSync's O_TRUNC frees the old block and costs ~0.2 ms;
 * writing over it and trimming the length measured 0.014 ms. For kiln's own control files in
 * reused sandboxes, never for anything a reader might hold open.
 */
import { closeSync, constants, ftruncateSync, openSync, writeSync } from "node:fs";

export function overwriteFile(path: string, content: string | Buffer): void {
  const bytes = typeof content === "string" ? Buffer.from(content) : content;
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o644);
  try {
    writeSync(fd, bytes, 0, bytes.length, 0);
    ftruncateSync(fd, bytes.length);
  } finally {
    closeSync(fd);
  }
}
