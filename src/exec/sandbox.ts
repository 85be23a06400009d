/**
 * A directory per action holding only its declared inputs, laid out at their workspace paths
 * (sources copied, large sources and dependencies' outputs hard-linked), plus HOME, TMPDIR and
 * the output directory. In use, a sandbox is named by pid, so a later build can remove those a
 * crashed kiln left behind without touching a running one's; between uses it is parked, empty,
 * under its label (see `create`).
 */
import { constants, copyFileSync, linkSync, readdirSync, renameSync, rmSync, statSync, unlinkSync } from "node:fs";
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ensureDirectory } from "../ensure-directory.js";
import { digestBytes, digestFile, type ContentDigest } from "../key/digest.js";

/** An input shared with the workspace (not copied): its stat before the step and its digest. */
export interface SharedFile {
  /** Path inside the sandbox (= workspace-relative path). */
  relative: string;
  size: number;
  mtimeMs: number;
  digest: ContentDigest;
}

let sandboxCounter = 0;
const knownBases = new Set<string>();

/** Inputs larger than this are hard-linked into sandboxes instead of copied. */
export const SHARED_INPUT_SIZE = 64 << 20;

/** Files kiln itself writes in every cmd sandbox, kept between uses (rewritten, never linked). */
const CONTROL_FILES = new Set([".kiln-srcs", ".kiln-stdout", ".kiln-stderr"]);

export class Sandbox {
  /** Directories known to exist in the sandbox (absolute). */
  private readonly createdDirs = new Set<string>();
  /** Directories this action needs (absolute); others left from an earlier use are removed. */
  private readonly usedDirs = new Set<string>();
  private readonly shared: SharedFile[] = [];

  private constructor(
    readonly dir: string,
    /** Where the sandbox is parked for the next action of the same label. */
    private readonly parking: string,
  ) {}

  /**
   * A sandbox for one action of `label`. Creating directories is the dominant cost here (~0.2 ms
   * each: inode allocation on ext4 with discard), so a label's sandbox is kept between runs as a
   * skeleton of empty directories: the next run of the same label (the incremental case) claims
   * it by rename, removes the directories it does not need and makes only the missing ones.
   */
  static create(base: string, label: string): Sandbox {
    const dir = join(base, `${process.pid}-${++sandboxCounter}`);
    const parking = join(base, "parked", digestBytes(label).slice(0, 24));
    ensureDirectory(join(base, "parked"), knownBases);
    const sandbox = new Sandbox(dir, parking);
    try {
      renameSync(parking, dir);
      for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
        if (entry.isDirectory()) sandbox.createdDirs.add(join(entry.parentPath, entry.name));
      }
      sandbox.createdDirs.add(dir);
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
    // HOME and TMPDIR share one directory: a step rarely cares which is which.
    sandbox.ensureDir(join(dir, ".tmp"));
    return sandbox;
  }

  /**
   * Removes directories an earlier use left that this action did not ask for, deepest first, so
   * the command sees exactly its inputs. Call after laying out inputs and the output directory.
   */
  pruneUnusedDirectories(): void {
    const unused = [...this.createdDirs].filter((d) => !this.usedDirs.has(d)).sort((a, b) => b.length - a.length);
    for (const dir of unused) {
      rmSync(dir, { recursive: true, force: true });
      this.createdDirs.delete(dir);
    }
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
   * Places a source (the user's file) at `relative`. Up to SHARED_INPUT_SIZE it is copied (a
   * reflink where the file system has them): file modes do not stop a step running as root, and a
   * link would let it change the user's data. Larger sources are hard-linked (copying a dataset
   * per step costs too much) and checked after the step. `size` is the source's known size.
   */
  placeSource(relative: string, from: string, digest: ContentDigest, size: number): void {
    const target = join(this.dir, relative);
    this.ensureDir(dirname(target));
    if (size <= SHARED_INPUT_SIZE) {
      try {
        copyFileSync(from, target, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      return;
    }
    try {
      linkSync(from, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
      throw error;
    }
    const linked = statSync(target);
    this.shared.push({ relative, size: linked.size, mtimeMs: linked.mtimeMs, digest });
  }

  /**
   * A dependency's output (kiln's own, read-only, restorable from a verified blob), hard-linked:
   * no inode to allocate or free, and an aggregator over 10,000 outputs must not copy 10,000
   * files. Checked after the step like every shared input.
   */
  placeLinkedOutput(relative: string, from: string, file: SharedFile): void {
    const target = join(this.dir, relative);
    this.ensureDir(dirname(target));
    linkSync(from, target);
    this.shared.push(file);
  }

  /**
   * Shared inputs the step wrote to: a changed stat whose bytes no longer match the digest (a
   * concurrent kiln replacing an output with identical bytes is not a write).
   */
  async changedSharedInputs(): Promise<string[]> {
    const changed: string[] = [];
    for (const input of this.shared) {
      const path = join(this.dir, input.relative);
      const now = statSync(path, { throwIfNoEntry: false });
      if (!now || (now.size === input.size && now.mtimeMs === input.mtimeMs)) continue;
      if ((await digestFile(path)).digest !== input.digest) changed.push(input.relative);
    }
    return changed;
  }

  ensureDir(absolute: string): void {
    ensureDirectory(absolute, this.createdDirs);
    for (let dir = absolute; dir.length > this.dir.length && !this.usedDirs.has(dir); dir = dirname(dir)) {
      this.usedDirs.add(dir);
    }
    this.usedDirs.add(this.dir);
  }

  /**
   * Empties the sandbox and parks it for the next action of its label: every file goes (inputs
   * are links and copies; outputs are already in the store), directories the command made go,
   * the skeleton stays. Unlinking a hard link frees no inode, so this is cheap. If another kiln
   * parked one meanwhile, this one is removed off the main thread instead.
   */
  release(): void {
    try {
      this.emptyDirectory(this.dir, true);
      renameSync(this.dir, this.parking);
    } catch {
      this.remove();
    }
  }

  private emptyDirectory(dir: string, isRoot: boolean): void {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (this.usedDirs.has(path)) this.emptyDirectory(path, false);
        else rmSync(path, { recursive: true, force: true });
      } else if (!(isRoot && CONTROL_FILES.has(entry.name) && statSync(path).nlink === 1)) {
        unlinkSync(path);
      }
    }
  }

  /** Removes the sandbox off the main thread (`settleRemovals` waits for it, briefly, at exit). */
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
