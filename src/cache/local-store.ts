/**
 * The local cache: an LMDB index (action key -> action result) and a content-addressed store of
 * blobs as read-only files named by their SHA-256 (`cas/ab/abcdef...`), so outputs of any size
 * are streamed and can be hard-linked into sandboxes and kiln-out.
 * Invariants: a blob enters the store by rename (never half-written at its final name); an action
 * result is written only after all its blobs are in place; a blob is verified against its digest
 * (memoised by stat) before use, and a corrupt one is deleted and reported as missing.
 */
import { chmodSync, copyFileSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import type { ContentDigest } from "../key/digest.js";
import type { KeyIngredients } from "../key/action-key.js";
import type { StatCache } from "../key/stat-cache.js";

export interface OutputRecord {
  /** Path inside the target's output directory. */
  name: string;
  digest: ContentDigest;
  size: number;
}

export interface ActionResult {
  outputs: OutputRecord[];
  /** Digest of the step's combined log (stdout, stderr, ctx.log), if it wrote any. */
  log?: ContentDigest;
  /** How long the action took when it executed. */
  ms: number;
  /** What the key was computed from, so `--explain` and `kiln why` can diff two runs. */
  ingredients: KeyIngredients;
  /** The key this label had before this run, so `kiln why` can say what changed. */
  previousKey?: string;
  createdAt: number;
}

/** Default cache location: $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.KILN_CACHE_DIR) return env.KILN_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "kiln");
  return join(homedir(), ".cache", "kiln");
}

let tempCounter = 0;

export class LocalStore {
  private constructor(
    readonly dir: string,
    private readonly index: RootDatabase<ActionResult, string>,
    private readonly verifiedBlobs: StatCache,
  ) {}

  static async open(dir: string, verifiedBlobs: StatCache): Promise<LocalStore> {
    mkdirSync(join(dir, "cas"), { recursive: true });
    mkdirSync(join(dir, "tmp"), { recursive: true });
    const { open } = await import("lmdb");
    const index = open<ActionResult, string>({ path: join(dir, "index.lmdb"), compression: false });
    return new LocalStore(dir, index, verifiedBlobs);
  }

  blobPath(digest: ContentDigest): string {
    return join(this.dir, "cas", digest.slice(0, 2), digest);
  }

  getAction(key: string): ActionResult | undefined {
    return this.index.get(`ac/${key}`);
  }

  /** Queued into LMDB's batched transaction: durable at the next commit, atomic either way. */
  putAction(key: string, result: ActionResult): Promise<boolean> {
    return this.index.put(`ac/${key}`, result);
  }

  /**
   * True if the blob is present and its bytes match its digest. A mismatch deletes the blob so the
   * action producing it runs again.
   */
  async hasValidBlob(digest: ContentDigest): Promise<boolean> {
    const path = this.blobPath(digest);
    try {
      const { digest: actual } = await this.verifiedBlobs.digest(path);
      if (actual === digest) return true;
      rmSync(path, { force: true });
      this.verifiedBlobs.forget(path);
      return false;
    } catch {
      return false;
    }
  }

  /**
   * Moves a finished output into the store under its digest: a hard link when the store shares a
   * file system with the sandbox, else a copy; either way via a temp name and a rename.
   */
  insertBlob(file: string, digest: ContentDigest): void {
    const final = this.blobPath(digest);
    const temp = join(this.dir, "tmp", `${process.pid}-${++tempCounter}`);
    chmodSync(file, 0o444);
    try {
      linkSync(file, temp);
    } catch {
      copyFileSync(file, temp);
      chmodSync(temp, 0o444);
    }
    mkdirSync(join(this.dir, "cas", digest.slice(0, 2)), { recursive: true });
    renameSync(temp, final);
    // rename() is a no-op when both names are links to one inode; the temp name may remain.
    rmSync(temp, { force: true });
    this.verifiedBlobs.remember(final, statSync(final), digest);
  }

  async close(): Promise<void> {
    await this.index.flushed;
    await this.index.close();
  }

  /** Removes the whole store (`kiln clean --cache`). */
  static destroy(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
  }
}
