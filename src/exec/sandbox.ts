/**
 * A fresh directory per action holding only its declared inputs, laid out at their workspace
 * paths (copies, or hard links for large files), plus HOME, TMPDIR and the output directory. Sandboxes live under the workspace's state dir, named by pid, so a later
 * build can remove those a crashed kiln left behind without touching a running one's.
 */
import { constants, copyFileSync, linkSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";

let sandboxCounter = 0;

/** Inputs larger than this are hard-linked into sandboxes instead of copied. */
export const SHARED_INPUT_SIZE = 64 << 20;

export class Sandbox {
  private readonly createdDirs = new Set<string>();
  private readonly shared: { relative: string; from: string; size: number; mtimeMs: number }[] = [];

  private constructor(readonly dir: string) {}

  static create(base: string): Sandbox {
    const dir = join(base, `${process.pid}-${++sandboxCounter}`);
    rmSync(dir, { recursive: true, force: true });
    // HOME and TMPDIR share one directory: every directory made and removed costs (ext4 with
    // discard makes them slow here), and a step rarely cares which is which.
    mkdirSync(join(dir, ".tmp"), { recursive: true });
    return new Sandbox(dir);
  }

  get home(): string {
    return join(this.dir, ".tmp");
  }

  get tmp(): string {
    return join(this.dir, ".tmp");
  }

  path(relative: string): string {
    return join(this.dir, relative);
  }

  /**
   * Places `from` at `relative` inside the sandbox. Inputs up to SHARED_INPUT_SIZE are copied (a
   * reflink where the file system has them), so a step that writes to an input cannot change a
   * source or a cached output: file modes do not stop root. Larger inputs are hard-linked (copying
   * a dataset per step costs too much) and checked after the step: see `changedSharedInputs`.
   */
  placeInput(relative: string, from: string): void {
    const target = join(this.dir, relative);
    this.ensureDir(dirname(target));
    const stats = statSync(from);
    if (stats.size <= SHARED_INPUT_SIZE) {
      try {
        copyFileSync(from, target, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      return;
    }
    try {
      linkSync(from, target);
      this.shared.push({ relative, from, size: stats.size, mtimeMs: stats.mtimeMs });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
      copyFileSync(from, target);
    }
  }

  /** Hard-linked inputs whose size or mtime changed while the step ran (it wrote to them). */
  changedSharedInputs(): string[] {
    return this.shared
      .filter((input) => {
        const now = statSync(input.from, { throwIfNoEntry: false });
        return !now || now.size !== input.size || now.mtimeMs !== input.mtimeMs;
      })
      .map((input) => input.relative);
  }

  ensureDir(absolute: string): void {
    if (this.createdDirs.has(absolute)) return;
    mkdirSync(absolute, { recursive: true });
    this.createdDirs.add(absolute);
  }

  /**
   * Removes the sandbox off the main thread: deleting a tree is a dozen syscalls per directory,
   * and the scheduler has steps to start. `settleRemovals` waits for them before kiln exits.
   */
  remove(): void {
    const removal = rm(this.dir, { recursive: true, force: true }).catch(() => {});
    pendingRemovals.add(removal);
    void removal.then(() => pendingRemovals.delete(removal));
  }
}

const pendingRemovals = new Set<Promise<void>>();

export async function settleRemovals(): Promise<void> {
  await Promise.all([...pendingRemovals]);
}

/**
 * Removes entries named `<pid>-...` whose kiln process is gone (crashed or killed): sandboxes,
 * and temp files of the store and of kiln-out.
 */
export function removeAbandonedSandboxes(base: string): void {
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(entry.split("-")[0]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    rmSync(join(base, entry), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
