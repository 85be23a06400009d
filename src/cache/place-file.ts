/**
 * Puts a read-only file's bytes at `dest`, whole or not at all, as both the blob store and
 * kiln-out need: a new name is one hard link (atomic, and no inode to allocate); an existing
 * file is replaced by a rename from a temp link; where links fail (another file system) the temp
 * is a read-only copy. A crash leaves the old file or the new one, never a torn one.
 */
import { chmodSync, copyFileSync, renameSync, rmSync } from "node:fs";
import { hardLink } from "../hard-link.js";

/**
 * Places `from` at `dest`; `tempPath` names a temp file on dest's file system when one is needed.
 * True if `dest` is now a hard link to `from` (same inode, same stat), false if a copy.
 */
export function placeFile(from: string, dest: string, tempPath: () => string, replacing: boolean): boolean {
  if (!replacing) {
    try {
      hardLink(from, dest);
      return true;
    } catch {
      // There already (EEXIST), another file system (EXDEV), links refused: the temp way below.
    }
  }
  const temp = tempPath();
  let linked = true;
  try {
    hardLink(from, temp);
  } catch {
    try {
      copyFileSync(from, temp);
      chmodSync(temp, 0o444);
    } catch (error) {
      // A full disk leaves a partial copy: not at dest, and not left behind either.
      rmSync(temp, { force: true });
      throw error;
    }
    linked = false;
  }
  renameSync(temp, dest);
  // rename() is a no-op when both names are links to one inode; the temp name may remain.
  rmSync(temp, { force: true });
  return linked;
}
