/**
 * A fresh directory per action holding only its declared inputs, laid out at their workspace
 * paths (hard links: cheap, and the store's blobs are read-only), plus HOME, TMPDIR and the
 * output directory. Sandboxes live under the workspace's state dir, named by pid, so a later
 * build can remove those a crashed kiln left behind without touching a running one's.
 */
import { copyFileSync, linkSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";

let sandboxCounter = 0;

export class Sandbox {
  private readonly createdDirs = new Set<string>();

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

  /** Places `from` at `relative` inside the sandbox: a hard link, or a copy across file systems. */
  placeInput(relative: string, from: string): void {
    const target = join(this.dir, relative);
    this.ensureDir(dirname(target));
    try {
      linkSync(from, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
      copyFileSync(from, target);
    }
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

/** Removes sandboxes whose kiln process is gone (crashed or killed). */
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
