/**
 * A directory per action holding only its declared inputs, laid out at their workspace paths
 * (sources copied, large sources and dependencies' outputs hard-linked), plus HOME, TMPDIR and
 * the output directory. In use, a sandbox is named by pid, so a later build can remove those a
 * crashed kiln left behind without touching a running one's; between uses it is emptied of what
 * the command made and reused (see sandbox-pool.ts).
 *
 * Reuse is what makes sandboxes cheap here: every inode made or freed (mkdir, a copied file)
 * costs 0.2-0.9 ms on ext4 with discard, while a rename, a hard link or its unlink costs
 * microseconds. So a sandbox keeps, between uses, its directories, the hard links to its
 * dependencies' outputs (an aggregator over 10,000 outputs relinks only the one that changed)
 * and its copies of sources (overwritten in place for the next source). To find what a command
 * left behind without reading every directory, each directory's mtime is remembered when it is
 * old enough to be trusted, and only directories whose mtime moved (or that kiln itself changed)
 * are read when the sandbox is emptied.
 */
import {
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fstatSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { hardLink } from "../hard-link.js";
import { joinRelative } from "../join-relative.js";
import { overwriteFile } from "../overwrite-file.js";
import { processExists } from "../process-alive.js";
import { statPaths } from "../stat-batch.js";
import { type ContentDigest } from "../key/digest.js";
import { digestFile } from "../key/file-digest.js";
import { SHARED_INPUT_SIZE, SPARE_REUSE_SIZE } from "../size-thresholds.js";
import { recordDirectoryMtime } from "../key/file-identity.js";
import { encodeManifest, MANIFEST_FILE, readManifest, type KeptLink } from "./sandbox-manifest.js";

/**
 * An input shared with the workspace (hard-linked, not copied): where it is, its digest, and the
 * identity of the file linked (size, mtimeMs and ino first: file-identity.ts). The shape of
 * sandbox-check.ts's ExpectedInput for a link, so one object serves both checks.
 */
export interface SharedFile {
  /** Path inside the sandbox (= workspace-relative path). */
  path: string;
  /** The same, absolute. */
  inSandbox: string;
  digest: ContentDigest;
  linkedIdentity: readonly number[];
}


/** Files kiln itself writes in every sandbox, kept between uses (rewritten, never linked). */
const CONTROL_FILES = new Set([".kiln-srcs", ".kiln-stdout", ".kiln-stderr", ".kiln-run", ".kiln-cmd", MANIFEST_FILE]);


const depth = (relative: string) => {
  if (relative === "") return -1;
  let slashes = 0;
  for (let at = relative.indexOf("/"); at >= 0; at = relative.indexOf("/", at + 1)) slashes++;
  return slashes;
};
/**
 * `dirs` ordered by depth, equal depths in their order (what a stable sort by depth gives), by
 * bucketing: an aggregator's sandbox has 100,000 directories, and a comparator computing depths
 * made ~3.4 million arrays.
 */
export const sortedByDepth = (dirs: Iterable<string>, order: "shallowFirst" | "deepFirst"): string[] => {
  const buckets: string[][] = []; // by depth + 1 ("" is -1)
  for (const dir of dirs) (buckets[depth(dir) + 1] ??= []).push(dir);
  if (order === "deepFirst") buckets.reverse();
  return buckets.flatMap((bucket) => bucket ?? []);
};
const parentOf = (relative: string) => {
  const slash = relative.lastIndexOf("/");
  return slash < 0 ? "" : relative.slice(0, slash);
};
const childOf = (dir: string, name: string) => (dir === "" ? name : `${dir}/${name}`);

export class Sandbox {
  /** Directories this action needs, relative ("" is the sandbox itself). */
  private usedDirs = new Set<string>([""]);
  private shared: SharedFile[] = [];
  /** Sources copied in by this use (relative): kept as spares when the sandbox is emptied. */
  private copies = new Set<string>();
  /** Kept links this action uses; the others are removed before the command runs. */
  private usedLinks = new Set<string>();
  /**
   * Reopened from parking on its manifest's word, not yet proved by a use: a failure to lay it
   * out means the manifest lied (the sandbox was changed while parked), not that kiln erred.
   */
  trustedManifest = false;

  private constructor(
    readonly dir: string,
    /** Where the sandbox is parked for the next action of the same label. */
    public parking: string,
    /** Directories that exist, relative, with a trusted mtime or undefined (read it when emptying). */
    private dirs: Map<string, number | undefined>,
    /** Hard links to dependencies' outputs left by earlier uses, by relative path. */
    private links: Map<string, KeptLink>,
    /**
     * Files left from copied sources of an earlier use (relative). Each is renamed to and
     * overwritten with a source of this use, reusing its inode; those not reused are removed
     * before the command runs.
     */
    private spares: Set<string>,
  ) {}

  /** A new, empty sandbox at `dir` (which must not exist). */
  static create(dir: string, parking: string): Sandbox {
    mkdirSync(dir);
    return new Sandbox(dir, parking, new Map([["", undefined]]), new Map(), new Set());
  }

  /**
   * A parked sandbox just claimed (renamed to `dir`), as its manifest describes it. Without a
   * readable manifest, it is surveyed and every file but kiln's and plain copies is removed.
   */
  static reopen(dir: string, parking: string): Sandbox {
    const manifest = readManifest(dir);
    // Taken at its word, without a stat per entry (an aggregator's names 100,000 directories and
    // links): what it promises is proved where it matters. Each input is checked before the
    // command runs (sandbox-check.ts), $OUT is looked at, and a directory, link or spare that is
    // gone makes laying out fail; the local executor then drops this sandbox and lays the step
    // out again in a new one (see StaleSandbox in local-executor.ts).
    if (manifest) {
      const sandbox = new Sandbox(dir, parking, manifest.dirs, manifest.links, new Set(manifest.spares));
      sandbox.trustedManifest = true;
      return sandbox;
    }
    const dirs = new Map<string, number | undefined>([["", undefined]]);
    const spares = new Set<string>();
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      const relative = path.slice(dir.length + 1);
      if (entry.isDirectory()) dirs.set(relative, undefined);
      else if (CONTROL_FILES.has(relative) && entry.isFile()) continue;
      else if (entry.isFile() && lstatSync(path).nlink === 1) spares.add(relative);
      else unlinkSync(path);
    }
    return new Sandbox(dir, parking, dirs, new Map(), spares);
  }

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
    return joinRelative(this.dir, relative);
  }

  /** Kiln changed this directory's entries: read it when emptying. */
  private touched(relative: string): void {
    if (this.dirs.has(relative)) this.dirs.set(relative, undefined);
  }

  /**
   * Makes exactly `needed` (relative directories, with their parents) exist, plus `.tmp` (HOME and
   * TMPDIR share one directory: a step rarely cares which is which). A missing directory takes
   * the place of an unneeded sibling by rename (its subtree comes along, often the right shape)
   * before anything is made; unneeded directories left over are removed, deepest first, so the
   * command sees exactly its inputs. Call before placing any input.
   */
  prepareDirectories(needed: Iterable<string>): void {
    // The usual reuse (an aggregator's sandbox, rebuilt for one changed input) needs exactly the
    // directories it has: each pass below over its 100,000 is skipped when it would find nothing.
    const used = new Set<string>([""]);
    const missingDirs: string[] = [];
    const use = (start: string) => {
      for (let dir = start; dir !== "" && !used.has(dir); dir = parentOf(dir)) {
        used.add(dir);
        if (!this.dirs.has(dir)) missingDirs.push(dir);
      }
    };
    use(".tmp");
    for (const start of needed) use(start);
    this.usedDirs = used;
    const unusedBySibling = new Map<string, string[]>();
    const addUnused = (dir: string) => {
      const parent = parentOf(dir);
      const list = unusedBySibling.get(parent);
      if (list) list.push(dir);
      else unusedBySibling.set(parent, [dir]);
    };
    let anyUnused = false;
    for (const dir of this.dirs.keys()) {
      if (used.has(dir)) continue;
      addUnused(dir);
      anyUnused = true;
    }
    const missing = missingDirs.length === 0 ? [] : sortedByDepth(missingDirs, "shallowFirst");
    for (const dir of missing) {
      if (this.dirs.has(dir)) continue; // came along with a renamed sibling
      const candidates = unusedBySibling.get(parentOf(dir));
      let donor: string | undefined;
      while (candidates && candidates.length > 0 && donor === undefined) {
        const candidate = candidates.pop()!;
        if (this.dirs.has(candidate) && !used.has(candidate)) donor = candidate;
      }
      this.touched(parentOf(dir));
      if (donor === undefined) {
        mkdirSync(join(this.dir, dir));
        this.dirs.set(dir, undefined);
        continue;
      }
      renameSync(join(this.dir, donor), join(this.dir, dir));
      this.moveSubtree(donor, dir, (moved) => {
        if (!used.has(moved)) addUnused(moved);
      });
    }
    // A rename above can make an unused directory (a donor's subtree) even when none was before.
    if (!anyUnused && missing.length === 0) return;
    const unused = sortedByDepth([...this.dirs.keys()].filter((dir) => !used.has(dir)), "deepFirst");
    for (const dir of unused) {
      rmSync(join(this.dir, dir), { recursive: true, force: true });
      this.dirs.delete(dir);
      this.touched(parentOf(dir));
    }
    for (const spare of this.spares) if (!used.has(parentOf(spare))) this.spares.delete(spare);
    for (const link of this.links.keys()) if (!used.has(parentOf(link))) this.links.delete(link);
  }

  /** Renames what kiln knows under `from` to `to` (after renaming the directory itself). */
  private moveSubtree(from: string, to: string, onMovedDirectory: (moved: string) => void): void {
    const prefix = `${from}/`;
    const moved = (path: string) => to + path.slice(from.length);
    for (const old of [...this.dirs.keys()]) {
      if (old !== from && !old.startsWith(prefix)) continue;
      this.dirs.delete(old);
      // A directory moved to a new parent has its ".." rewritten: do not trust its mtime.
      this.dirs.set(moved(old), undefined);
      onMovedDirectory(moved(old));
    }
    this.spares = new Set([...this.spares].map((spare) => (spare.startsWith(prefix) ? moved(spare) : spare)));
    for (const [link, kept] of [...this.links]) {
      if (!link.startsWith(prefix)) continue;
      this.links.delete(link);
      this.links.set(moved(link), kept);
    }
  }

  /**
   * Places a source (the user's file) at `relative`. Up to SHARED_INPUT_SIZE it is copied (a
   * reflink where the file system has them): file modes do not stop a step running as root, and a
   * link would let it change the user's data. Larger sources are hard-linked (copying a dataset
   * per step costs too much) and checked after the step. `size` is the source's known size.
   */
  placeSource(relative: string, from: string, digest: ContentDigest, size: number): void {
    const target = join(this.dir, relative);
    if (size <= SPARE_REUSE_SIZE && this.spares.size > 0 && this.overwriteSpare(relative, from)) {
      this.copies.add(relative);
      return;
    }
    this.touched(parentOf(relative));
    this.removeSpareAt(relative);
    // Exclusive: a file kiln does not know of at an input's path means the sandbox is not what
    // kiln thinks it is. The step fails (and the sandbox is dropped) rather than run on it.
    if (size <= SHARED_INPUT_SIZE) {
      this.copies.add(relative);
      copyFileSync(from, target, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      return;
    }
    // link(2) does not follow a symbolic link: it would link the link itself, which in the
    // sandbox points elsewhere (a relative one) or out of the namespace sandbox's view. Link the
    // file it resolves to: the bytes the digest was taken from.
    const real = realpathSync.native(from);
    try {
      hardLink(real, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
      // A link out of the workspace to another file system: copied (the check hashes the copy).
      this.copies.add(relative);
      copyFileSync(real, target, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
      return;
    }
    const linked = statSync(target);
    this.shared.push({ path: relative, inSandbox: target, digest, linkedIdentity: [linked.size, linked.mtimeMs, linked.ino] });
  }

  /**
   * Removes a spare sitting where an input is about to be placed. It is not that input: an
   * earlier use's copy, or, in a sandbox surveyed without its manifest, a link whose other names
   * are gone (a copied workspace). Left listed, removeUnused would delete the input placed there;
   * left in place, an exclusive copy would fail on it.
   */
  private removeSpareAt(relative: string): void {
    if (this.spares.delete(relative)) unlinkSync(join(this.dir, relative));
  }

  /**
   * Turns a spare into a copy of `from` at `relative`: renamed into place (a spare already there
   * is preferred), then overwritten through a descriptor that refuses a symlink and is checked to
   * be a plain file with one link, so whatever the previous command did to it, nothing but the
   * sandbox's own file is written. False if no spare could be used.
   */
  private overwriteSpare(relative: string, from: string): boolean {
    const spare = this.spares.has(relative) ? relative : this.spares.values().next().value!;
    this.spares.delete(spare);
    const target = join(this.dir, relative);
    if (spare !== relative) {
      renameSync(join(this.dir, spare), target);
      this.touched(parentOf(spare));
      this.touched(parentOf(relative));
    }
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
    if (!reusable) {
      unlinkSync(target);
      this.touched(parentOf(relative));
    }
    return reusable;
  }

  /**
   * A dependency's output (kiln's own, read-only, restorable from a verified blob), hard-linked:
   * no inode to allocate or free, and an aggregator over 10,000 outputs must not copy 10,000
   * files. A link an earlier use left to the very same file (same inode, size and mtime) is kept.
   * Checked after the step like every shared input.
   */
  placeLinkedOutput(from: string, file: SharedFile): void {
    const relative = file.path;
    const [size, mtimeMs, ino] = file.linkedIdentity as [number, number, number];
    this.usedLinks.add(relative);
    this.shared.push(file);
    const kept = this.links.get(relative);
    if (kept && kept.ino === ino && kept.size === size && kept.mtimeMs === mtimeMs) return;
    const target = file.inSandbox;
    this.touched(parentOf(relative));
    this.removeSpareAt(relative);
    try {
      hardLink(from, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      unlinkSync(target);
      hardLink(from, target);
    }
    this.links.set(relative, { ino, size, mtimeMs });
  }

  /** Removes the spares and kept links this action did not take: the command sees exactly its inputs. */
  removeUnused(): void {
    const spares = [...this.spares];
    this.spares.clear();
    for (const spare of spares) {
      unlinkSync(join(this.dir, spare));
      this.touched(parentOf(spare));
    }
    for (const link of [...this.links.keys()]) {
      if (this.usedLinks.has(link)) continue;
      // unlink, not rmSync: that stats twice before it unlinks (one link per step in a chain).
      try {
        unlinkSync(join(this.dir, link));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
      this.links.delete(link);
      this.touched(parentOf(link));
    }
  }

  /**
   * Shared inputs the step wrote to: a changed stat whose bytes no longer match the digest (a
   * concurrent kiln replacing an output with identical bytes is not a write). Any link whose stat
   * moved is no longer kept.
   */
  async changedSharedInputs(): Promise<string[]> {
    const changed: string[] = [];
    // All at once (on two threads when there are many: stat-batch.ts), then judged in order.
    const current = statPaths(this.shared.map((input) => input.inSandbox));
    for (let i = 0; i < this.shared.length; i++) {
      const input = this.shared[i]!;
      const now = current[i];
      const [size, mtimeMs, ino] = input.linkedIdentity;
      if (now && now.size === size && now.mtimeMs === mtimeMs && now.ino === ino) continue;
      this.links.delete(input.path);
      this.touched(parentOf(input.path));
      if (now && (await digestFile(input.inSandbox)).digest !== input.digest) changed.push(input.path);
    }
    return changed;
  }

  /**
   * Removes every file the command made or changed (outputs are already in the store) and every
   * directory it made, keeping the skeleton, kept links, spares and kiln's control files. Reads
   * only the directories whose entries may have changed (see the module comment).
   */
  empty(): void {
    // Nothing here may follow a link the command made: a step that replaced $OUT (or any
    // directory of the sandbox, or the sandbox itself) by a link to /etc had this method, run as
    // root, empty /etc. So directories are visited parents first, each one reached only through
    // parents already seen to be real directories, and entries are judged by their own type.
    const self = lstatSync(this.dir, { throwIfNoEntry: false });
    if (!self?.isDirectory()) throw new Error(`the sandbox ${this.dir} is no longer a directory`);
    const now = Date.now();
    // What each used directory turned out to be, visited parents first: UNREAD (trusted, its
    // mtime unmoved), READ (listed, its entries judged) or GONE (removed or replaced by the
    // command). One Map for the three: an aggregator's sandbox has 100,000 directories.
    const UNREAD = 0;
    const READ = 1;
    const GONE = 2;
    const state = new Map<string, number>();
    const spares: string[] = [];
    /** Used directories seen as real directories in their parent's listing. */
    const listed = new Set<string>();
    let anyGone = false;
    const ordered = sortedByDepth(this.usedDirs, "shallowFirst");
    // The trusted directories' mtimes, all at once (two threads share an aggregator's 100,000:
    // stat-batch.ts). Nothing below changes a used directory's entries but its own listing,
    // which comes after its stat, so the stats are what a stat at each step would find. They
    // come in `ordered`'s order, so the loop takes them by a running index.
    const trustedStats = statPaths(ordered.filter((dir) => this.dirs.get(dir) !== undefined).map((dir) => this.path(dir)));
    let nextTrusted = 0;
    // `dirs` is rewritten in place (setting a key it has does not grow it): the used directories,
    // with the mtimes found; gone ones deleted. Those not used were removed by prepareDirectories.
    for (const dir of this.dirs.keys()) if (!this.usedDirs.has(dir)) this.dirs.delete(dir);
    for (const dir of ordered) {
      const trusted = this.dirs.get(dir);
      const trustedMtime = trusted === undefined ? undefined : trustedStats[nextTrusted++]?.mtimeMs;
      if (dir !== "") {
        const parent = state.get(parentOf(dir));
        if (parent === GONE || (parent !== UNREAD && !listed.has(dir))) {
          state.set(dir, GONE);
          this.dirs.delete(dir);
          anyGone = true;
          continue;
        }
      }
      if (trusted !== undefined && trustedMtime === trusted) {
        state.set(dir, UNREAD);
        continue;
      }
      const path = this.path(dir);
      for (const entry of readdirSync(path, { withFileTypes: true })) {
        const child = childOf(dir, entry.name);
        const childPath = join(path, entry.name);
        if (entry.isDirectory()) {
          if (!this.usedDirs.has(child)) rmSync(childPath, { recursive: true, force: true });
          else listed.add(child);
        } else if (dir === "" && CONTROL_FILES.has(entry.name) && entry.isFile() && lstatSync(childPath).nlink === 1) {
          // kept: rewritten in place next time
        } else if (this.links.has(child) && entry.isFile()) {
          // kept: checked unchanged after the step
        } else if (entry.isFile() && this.copies.has(child)) {
          spares.push(child);
        } else {
          unlinkSync(childPath);
          this.links.delete(child);
        }
      }
      // Trusted as "nothing changed since" only once safely old: file timestamps come from a
      // coarse clock, so a change made within the same tick would not move it.
      const mtimeMs = recordDirectoryMtime(statSync(path).mtimeMs, now);
      state.set(dir, READ);
      this.dirs.set(dir, Number.isNaN(mtimeMs) ? undefined : mtimeMs);
    }
    // Spares in directories not read (nothing changed there) are still in place.
    for (const copy of this.copies) if (state.get(parentOf(copy)) === UNREAD) spares.push(copy);
    if (anyGone) for (const link of [...this.links.keys()]) if (state.get(parentOf(link)) === GONE) this.links.delete(link);
    this.spares = new Set(spares);
    this.usedDirs = new Set([""]);
    this.shared = [];
    this.copies = new Set();
    this.usedLinks = new Set();
    this.trustedManifest = false;
  }

  /** Records the sandbox's state in its manifest, for the build that claims it from parking. */
  writeManifest(): void {
    overwriteFile(join(this.dir, MANIFEST_FILE), encodeManifest({ dirs: this.dirs, links: this.links, spares: [...this.spares] }));
  }

  /** Removes the sandbox off the main thread; the promise settles when it is gone. */
  remove(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }
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
    if (!Number.isInteger(pid) || pid === process.pid || processExists(pid)) continue;
    rmSync(join(base, entry), { recursive: true, force: true });
  }
}

