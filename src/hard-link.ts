/**
 * link(2) that survives a concurrent atomic replacement of its source. Linux resolves the source
 * name to an inode and then refuses with ENOENT if that inode lost its last name meanwhile
 * (fs/namei.c, vfs_link: no hard link to an unlinked file), although the name itself never
 * stopped existing. Another kiln building the same workspace does exactly that: its rename over
 * a file in kiln-out/ or over a blob in the store drops the old inode's last name. Measured here
 * against a rename loop: 434 of 36,902 links failed so, and the name existed after every one.
 * Retried while the name exists (each try links whatever it names now: the caller's check of the
 * linked bytes still holds); a name really gone, or a missing target directory, fails at once.
 * Tries come in bursts against a tight rename loop (the two processes fall into step): 20 tries
 * back to back ran out 20 times in 200,000 links, so after the first few each try waits a little
 * longer (0.2 ms, growing to 2 ms). Then no link of 200,000 needed more than 16 tries.
 */
import { existsSync, linkSync } from "node:fs";
import { dirname } from "node:path";

const TRIES = 100;
const TRIES_BACK_TO_BACK = 5;
const nap = new Int32Array(new SharedArrayBuffer(4));

export function hardLink(from: string, to: string): void {
  for (let tried = 1; ; tried++) {
    try {
      linkSync(from, to);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || tried >= TRIES || !existsSync(from) || !existsSync(dirname(to))) throw error;
      if (tried >= TRIES_BACK_TO_BACK) Atomics.wait(nap, 0, 0, Math.min(tried - TRIES_BACK_TO_BACK + 1, 10) * 0.2);
    }
  }
}
