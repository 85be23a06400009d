/**
 * A directory per action holding only its declared inputs, laid out at their workspace paths
 * (sources copied, large sources and dependencies' outputs hard-linked), plus HOME, TMPDIR and
 * the output directory. In use, a sandbox is named by pid, so a later build can remove those a
 * crashed kiln left behind without touching a running one's; between uses it is emptied and
 * reused (see SandboxPool).
 */
import {
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { join } from "node:path";
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

/** Inputs larger than this are hard-linked into sandboxes instead of copied. */
export const SHARED_INPUT_SIZE = 64 << 20;

/** Sources up to this size may be written over a spare file (read whole into memory). */
const SPARE_REUSE_SIZE = 1 << 20;

/** Files kiln itself writes in every cmd sandbox, kept between uses (rewritten, never linked). */
const CONTROL_FILES = new Set([".kiln-srcs", ".kiln-stdout", ".kiln-stderr", ".kiln-run"]);

/** A sandbox with more directories than this is parked for its own label only, never lent. */
const LENDABLE_DIRECTORIES = 256;

const depth = (relative: string) => (relative === "" ? -1 : relative.split("/").length - 1);
const parentOf = (relative: string) => {
  const slash = relative.lastIndexOf("/");
  return slash < 0 ? "" : relative.slice(0, slash);
};

/**
 * Hands out sandboxes for one build. Making and removing directories is the dominant cost of a
 * sandbox here (~0.2-0.4 ms per inode on ext4 with discard; renames and hard links cost
 * microseconds), so sandboxes are reused as skeletons of empty directories:
 * - a label's own parked sandbox (left by an earlier build) comes first: the incremental case,
 *   where an aggregator's 10,000 directories are all still right;
 * - otherwise one released earlier in this build: the next leaf of a package needs the same
 *   directories but one, which is renamed into place;
 * - otherwise a new one.
 * At the end of the build, sandboxes still lent out are parked under the label that used them last.
 */
export class SandboxPool {
  private readonly free: Sandbox[] = [];
  private readonly parkedDir: string;
  private parkedDirExists = false;

  constructor(private readonly base: string) {
    this.parkedDir = join(base, "parked");
  }

  claim(label: string): Sandbox {
    const dir = join(this.base, `${process.pid}-${++sandboxCounter}`);
    const parking = this.parkingOf(label);
    try {
      renameSync(parking, dir);
      const dirs = new Set<string>([""]);
      const spares: string[] = [];
      for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
        const relative = relativeTo(dir, join(entry.parentPath, entry.name));
        if (entry.isDirectory()) dirs.add(relative);
        else if (entry.isFile() && !CONTROL_FILES.has(relative)) spares.push(relative);
      }
      return new Sandbox(dir, parking, dirs, spares);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") rmSync(dir, { recursive: true, force: true });
    }
    const lent = this.free.pop();
    if (lent) {
      lent.parking = parking;
      return lent;
    }
    ensureDirectory(this.base, new Set());
    mkdirSync(dir);
    return new Sandbox(dir, parking, new Set([""]), []);
  }

  /** Empties the sandbox and keeps it for the next action (see the class comment). */
  release(sandbox: Sandbox): void {
    try {
      sandbox.empty();
    } catch {
      sandbox.remove();
      return;
    }
    if (sandbox.directoryCount <= LENDABLE_DIRECTORIES) this.free.push(sandbox);
    else this.park(sandbox);
  }

  /** Parks the sandboxes this build still holds, each under the label it served last. */
  close(): void {
    for (const sandbox of this.free.splice(0)) this.park(sandbox);
  }

  private park(sandbox: Sandbox): void {
    try {
      if (!this.parkedDirExists) ensureDirectory(this.parkedDir, new Set());
      this.parkedDirExists = true;
      renameSync(sandbox.dir, sandbox.parking);
    } catch {
      // Another kiln parked one for this label meanwhile.
      sandbox.remove();
    }
  }

  private parkingOf(label: string): string {
    return join(this.parkedDir, digestBytes(label).slice(0, 24));
  }
}

function relativeTo(root: string, path: string): string {
  return path === root ? "" : path.slice(root.length + 1);
}

export class Sandbox {
  /** Directories this action needs, relative ("" is the sandbox itself). */
  private usedDirs = new Set<string>([""]);
  private shared: SharedFile[] = [];
  /** Sources copied in by this use (relative): kept as spares when the sandbox is emptied. */
  private copies = new Set<string>();

  /** @internal made by SandboxPool */
  constructor(
    readonly dir: string,
    /** Where the sandbox is parked for the next action of the same label. */
    public parking: string,
    /** Directories that exist in the sandbox, relative. */
    private dirs: Set<string>,
    /**
     * Files left from copied sources of an earlier use (relative). Each is renamed to and
     * overwritten with a source of this use, reusing its inode (making one costs ~0.3-0.9 ms on
     * this disk); those not reused are removed before the command runs.
     */
    private spares: string[],
  ) {}

  get directoryCount(): number {
    return this.dirs.size;
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
   * Makes exactly `needed` (relative directories, with their parents) exist, plus `.tmp` (HOME and
   * TMPDIR share one directory: a step rarely cares which is which). A missing directory takes
   * the place of an unneeded sibling by rename (its subtree comes along, often the right shape)
   * before anything is made; unneeded directories left over are removed, deepest first, so the
   * command sees exactly its inputs. Call before placing any input.
   */
  prepareDirectories(needed: Iterable<string>): void {
    const used = new Set<string>([""]);
    for (const start of [".tmp", ...needed]) {
      for (let dir = start; dir !== "" && !used.has(dir); dir = parentOf(dir)) used.add(dir);
    }
    this.usedDirs = used;
    const unusedBySibling = new Map<string, string[]>();
    const addUnused = (dir: string) => {
      const parent = parentOf(dir);
      const list = unusedBySibling.get(parent);
      if (list) list.push(dir);
      else unusedBySibling.set(parent, [dir]);
    };
    for (const dir of this.dirs) if (!used.has(dir)) addUnused(dir);
    const missing = [...used].filter((dir) => !this.dirs.has(dir)).sort((a, b) => depth(a) - depth(b));
    for (const dir of missing) {
      if (this.dirs.has(dir)) continue; // came along with a renamed sibling
      const candidates = unusedBySibling.get(parentOf(dir));
      let donor: string | undefined;
      while (candidates && candidates.length > 0 && donor === undefined) {
        const candidate = candidates.pop()!;
        if (this.dirs.has(candidate) && !used.has(candidate)) donor = candidate;
      }
      if (donor === undefined) {
        mkdirSync(join(this.dir, dir));
        this.dirs.add(dir);
        continue;
      }
      renameSync(join(this.dir, donor), join(this.dir, dir));
      const prefix = `${donor}/`;
      this.spares = this.spares.map((spare) => (spare.startsWith(prefix) ? dir + spare.slice(donor.length) : spare));
      for (const old of [...this.dirs]) {
        if (old !== donor && !old.startsWith(prefix)) continue;
        this.dirs.delete(old);
        const moved = dir + old.slice(donor.length);
        this.dirs.add(moved);
        if (!used.has(moved)) addUnused(moved);
      }
    }
    const unused = [...this.dirs].filter((dir) => !used.has(dir)).sort((a, b) => depth(b) - depth(a));
    for (const dir of unused) {
      rmSync(join(this.dir, dir), { recursive: true, force: true });
      this.dirs.delete(dir);
    }
    this.spares = this.spares.filter((spare) => used.has(parentOf(spare)));
  }

  /** Removes the spares no source took: the command must see exactly its inputs. */
  removeUnusedSpares(): void {
    for (const spare of this.spares.splice(0)) unlinkSync(join(this.dir, spare));
  }

  /**
   * Places a source (the user's file) at `relative`. Up to SHARED_INPUT_SIZE it is copied (a
   * reflink where the file system has them): file modes do not stop a step running as root, and a
   * link would let it change the user's data. Larger sources are hard-linked (copying a dataset
   * per step costs too much) and checked after the step. `size` is the source's known size.
   */
  placeSource(relative: string, from: string, digest: ContentDigest, size: number): void {
    const target = join(this.dir, relative);
    if (size <= SPARE_REUSE_SIZE && this.spares.length > 0 && this.overwriteSpare(relative, from)) {
      this.copies.add(relative);
      return;
    }
    if (size <= SHARED_INPUT_SIZE) {
      this.copies.add(relative);
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
   * Turns a spare into a copy of `from` at `relative`: renamed into place (a spare already there
   * is preferred), then overwritten through a descriptor that refuses a symlink and is checked to
   * be a plain file with one link, so whatever the previous command did to it, nothing but the
   * sandbox's own file is written. False if no spare could be used.
   */
  private overwriteSpare(relative: string, from: string): boolean {
    let index = this.spares.indexOf(relative);
    if (index < 0) index = this.spares.length - 1;
    const spare = this.spares[index]!;
    this.spares.splice(index, 1);
    const target = join(this.dir, relative);
    if (spare !== relative) renameSync(join(this.dir, spare), target);
    const fd = openSync(target, constants.O_WRONLY | constants.O_NOFOLLOW);
    let reusable = false;
    try {
      const current = fstatSync(fd);
      reusable = current.isFile() && current.nlink === 1;
      if (reusable) {
        const bytes = readFileSync(from);
        writeSync(fd, bytes, 0, bytes.length, 0);
        ftruncateSync(fd, bytes.length);
        fchmodSync(fd, statSync(from).mode & 0o777);
      }
    } finally {
      closeSync(fd);
    }
    if (!reusable) unlinkSync(target);
    return reusable;
  }

  /**
   * A dependency's output (kiln's own, read-only, restorable from a verified blob), hard-linked:
   * no inode to allocate or free, and an aggregator over 10,000 outputs must not copy 10,000
   * files. Checked after the step like every shared input.
   */
  placeLinkedOutput(relative: string, from: string, file: SharedFile): void {
    linkSync(from, join(this.dir, relative));
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

  /**
   * Removes every file (inputs are links and copies; outputs are already in the store) and every
   * directory the command made, keeping the skeleton and kiln's control files. Unlinking a hard
   * link frees no inode, so this is cheap.
   */
  empty(): void {
    this.spares = [];
    this.emptyDirectory(this.dir, "");
    this.dirs = this.usedDirs;
    this.usedDirs = new Set([""]);
    this.shared = [];
    this.copies = new Set();
  }

  private emptyDirectory(dir: string, relative: string): void {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const childRelative = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (this.usedDirs.has(childRelative)) this.emptyDirectory(path, childRelative);
        else rmSync(path, { recursive: true, force: true });
      } else if (relative === "" && CONTROL_FILES.has(entry.name) && statSync(path).nlink === 1) {
        // kept: rewritten in place next time
      } else if (entry.isFile() && this.copies.has(childRelative)) {
        this.spares.push(childRelative);
      } else {
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
