/**
 * A fresh directory per action holding only its declared inputs, laid out at their workspace
 * paths (sources copied, kiln's own outputs and large files hard-linked), plus HOME, TMPDIR and
 * the output directory. Sandboxes live under the workspace's state dir, named by pid, so a later
 * build can remove those a crashed kiln left behind without touching a running one's.
 */
import { constants, copyFileSync, linkSync, readdirSync, rmSync, statSync } from "node:fs";
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ensureDirectory } from "../ensure-directory.js";

let sandboxCounter = 0;
const knownBases = new Set<string>();

/** Inputs larger than this are hard-linked into sandboxes instead of copied. */
export const SHARED_INPUT_SIZE = 64 << 20;

export class Sandbox {
  private readonly createdDirs = new Set<string>();
  private readonly shared: { relative: string; from: string; size: number; mtimeMs: number }[] = [];

  private constructor(readonly dir: string) {}

  static create(base: string): Sandbox {
    const dir = join(base, `${process.pid}-${++sandboxCounter}`);
    rmSync(dir, { recursive: true, force: true });
    const sandbox = new Sandbox(dir);
    ensureDirectory(base, knownBases);
    // HOME and TMPDIR share one directory: every directory made and removed costs (ext4 with
    // discard makes them slow here), and a step rarely cares which is which.
    sandbox.ensureDir(join(dir, ".tmp"));
    return sandbox;
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
   * Places `from` at `relative` inside the sandbox.
   * - A source (the user's file) up to SHARED_INPUT_SIZE is copied (a reflink where the file
   *   system has them): file modes do not stop a step running as root, and a hard link would let
   *   it change the user's data. Larger sources are hard-linked: copying a dataset per step costs
   *   too much.
   * - A dependency's output (kiln's own, read-only, restorable from a verified blob) is
   *   hard-linked: an aggregator over 10,000 outputs must not copy 10,000 files.
   * Every hard-linked input is checked after the step (`changedSharedInputs`). `known` is the
   * stat kiln last recorded for a source, which saves a stat when deciding whether to copy it.
   */
  placeInput(relative: string, from: string, owner: "source" | "output", known?: readonly [size: number, mtimeMs: number, ino: number]): void {
    const target = join(this.dir, relative);
    this.ensureDir(dirname(target));
    if (owner === "source" && (known?.[0] ?? statSync(from).size) <= SHARED_INPUT_SIZE) {
      try {
        copyFileSync(from, target, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      return;
    }
    try {
      linkSync(from, target);
      // The inode actually linked (another kiln may have replaced `from` since it was recorded).
      const linked = statSync(target);
      this.shared.push({ relative, from, size: linked.size, mtimeMs: linked.mtimeMs });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
      copyFileSync(from, target);
    }
  }

  /** Hard-linked inputs whose size or mtime changed while the step ran (it wrote to them): workspace paths and originals. */
  changedSharedInputs(): { relative: string; from: string }[] {
    return this.shared
      .filter((input) => {
        // The sandbox's own link: the same inode as the original, whoever renamed what since.
        const now = statSync(join(this.dir, input.relative), { throwIfNoEntry: false });
        return now !== undefined && (now.size !== input.size || now.mtimeMs !== input.mtimeMs);
      })
      .map(({ relative, from }) => ({ relative, from }));
  }

  ensureDir(absolute: string): void {
    ensureDirectory(absolute, this.createdDirs);
  }

  /**
   * Removes the sandbox off the main thread: deleting a tree is a dozen syscalls per directory,
   * and the scheduler has steps to start. `settleRemovals` waits for them before kiln exits.
   */
  remove(): void {
    const dir = this.dir;
    const removal = rm(dir, { recursive: true, force: true }).catch(() => {});
    pendingRemovals.set(dir, removal);
    void removal.then(() => pendingRemovals.delete(dir));
  }
}

const pendingRemovals = new Map<string, Promise<void>>();
/** How long kiln waits at exit for sandbox removals before handing them to a detached `rm`. */
const REMOVAL_GRACE_MS = 200;

/**
 * Lets pending removals finish, briefly: removing an aggregator's sandbox of 10,000 directories
 * takes seconds on this file system, and the user should not wait for it. What is left goes to
 * a detached `rm -rf` that outlives kiln (a later build also removes sandboxes of dead kilns).
 */
export async function settleRemovals(): Promise<void> {
  if (pendingRemovals.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolvePromise) => (timer = setTimeout(resolvePromise, REMOVAL_GRACE_MS)));
  await Promise.race([Promise.all(pendingRemovals.values()), grace]);
  clearTimeout(timer);
  if (pendingRemovals.size === 0) return;
  spawn("rm", ["-rf", "--", ...pendingRemovals.keys()], { detached: true, stdio: "ignore" }).unref();
  pendingRemovals.clear();
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
