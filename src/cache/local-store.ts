/**
 * The local cache: an LMDB index (action key -> action result) and a content-addressed store of
 * blobs as read-only files named by their SHA-256 (`cas/ab/abcdef...`), so outputs of any size
 * are streamed and can be hard-linked into sandboxes and kiln-out.
 * Invariants: a blob enters the store by rename (never half-written at its final name); an action
 * result is written only after all its blobs are in place; a blob is verified against its digest
 * (memoised by stat) before use, and a corrupt one is deleted and reported as missing.
 */
import { chmodSync, mkdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import type { ContentDigest } from "../key/digest.js";
import type { KeyIngredients } from "../key/action-key.js";
import type { StatCache } from "../key/stat-cache.js";
import { placeFile } from "./place-file.js";

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
  /** The key this label had before this run, so `kiln why` can say what changed. */
  previousKey?: string;
  /** How a `cmd` step was isolated when it ran (namespace-sandbox.ts). */
  sandbox?: "bwrap" | "dir";
  /** Set when the command kept the network (`network: true`). */
  network?: boolean;
  createdAt: number;
}

/**
 * Where an action's inputs came from beyond their digests, kept beside its ingredients so the
 * whole build can be walked from any output down to source files and sources (provenance).
 * Not part of the key: an input's producer may change while its bytes do not (early cutoff).
 */
export interface ActionOrigins {
  /** (label, key) of each dependency whose outputs were inputs, sorted by label. */
  deps: [string, string][];
  /** Each `@source` read, as kiln.lock describes the content read. */
  sources: Record<string, { kind: "url" | "path"; location: string; sha256: string; size: number; files?: number }>;
  /** For a step: the files its code digest covers (workspace-relative, or absolute outside it), with digests. */
  code?: [string, string][];
}

/** Default cache location: $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.KILN_CACHE_DIR) return env.KILN_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "kiln");
  return join(homedir(), ".cache", "kiln");
}

let tempCounter = 0;
/** How long finished results wait to be committed together (see putAction). */
const PUT_BATCH_MS = 25;

export class LocalStore {
  private opened?: RootDatabase<ActionResult | KeyIngredients | ActionOrigins, string>;
  /** Blob shard directories known to exist (at most 256). */
  private readonly shards = new Set<string>();
  private readonly pendingPuts: [string, ActionResult, KeyIngredients, ActionOrigins | undefined][] = [];
  private putTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly dir: string,
    private readonly verifiedBlobs: StatCache,
  ) {}

  /** The store at `dir`. The LMDB index opens on first use: a no-op build never needs it. */
  static async open(dir: string, verifiedBlobs: StatCache): Promise<LocalStore> {
    mkdirSync(join(dir, "cas"), { recursive: true });
    mkdirSync(join(dir, "tmp"), { recursive: true });
    return new LocalStore(dir, verifiedBlobs);
  }

  private get index(): RootDatabase<ActionResult | KeyIngredients | ActionOrigins, string> {
    if (!this.opened) {
      const { open } = createRequire(import.meta.url)("lmdb") as typeof import("lmdb");
      this.opened = open<ActionResult | KeyIngredients | ActionOrigins, string>({ path: join(this.dir, "index.lmdb"), compression: false });
    }
    return this.opened;
  }

  blobPath(digest: ContentDigest): string {
    return join(this.dir, "cas", digest.slice(0, 2), digest);
  }

  getAction(key: string): ActionResult | undefined {
    const pending = this.pendingPuts.find(([pendingKey]) => pendingKey === key);
    if (pending) return pending[1];
    return this.index.get(`ac/${key}`) as ActionResult | undefined;
  }

  /**
   * What the key was computed from, for `--explain` and `kiln why`. Kept apart from the result:
   * an aggregator's record lists thousands of inputs, and a cache hit never needs it.
   */
  getIngredients(key: string): KeyIngredients | undefined {
    return this.index.get(`in/${key}`) as KeyIngredients | undefined;
  }

  /** Where the inputs of `key`'s action came from (see ActionOrigins); absent for results of older kilns. */
  getOrigins(key: string): ActionOrigins | undefined {
    const pending = this.pendingPuts.find(([pendingKey]) => pendingKey === key);
    if (pending) return pending[3];
    return this.index.get(`or/${key}`) as ActionOrigins | undefined;
  }

  /**
   * On a cache hit: the same bytes were read from a source described differently (a path source
   * that became a url with the same sha256); provenance then names the source as it is now.
   */
  refreshOrigins(key: string, origins: ActionOrigins): void {
    const stored = this.getOrigins(key);
    if (stored && JSON.stringify(stored.sources) === JSON.stringify(origins.sources)) return;
    void this.index.put(`or/${key}`, origins);
  }

  /**
   * Queued for LMDB: results finishing within PUT_BATCH_MS of each other are put in one event
   * turn, so lmdb-js commits them in one transaction (a commit per step cost ~0.14 ms of the
   * main thread). Durable at that commit, atomic either way; the ingredients go first, so a
   * result never lacks them. A crash before the commit loses only results whose blobs are
   * already stored: those steps run again.
   */
  putAction(key: string, result: ActionResult, ingredients: KeyIngredients, origins?: ActionOrigins): void {
    this.pendingPuts.push([key, result, ingredients, origins]);
    this.putTimer ??= setTimeout(() => this.flushPuts(), PUT_BATCH_MS);
  }

  private flushPuts(): void {
    clearTimeout(this.putTimer);
    this.putTimer = undefined;
    for (const [key, result, ingredients, origins] of this.pendingPuts.splice(0)) {
      void this.index.put(`in/${key}`, ingredients);
      if (origins) void this.index.put(`or/${key}`, origins);
      void this.index.put(`ac/${key}`, result);
    }
  }

  /**
   * True if the blob is present and its bytes match its digest. A mismatch deletes the blob so the
   * action producing it runs again.
   */
  async hasValidBlob(digest: ContentDigest): Promise<boolean> {
    const path = this.blobPath(digest);
    try {
      const { digest: actual } = await this.verifiedBlobs.digest(path, "kiln");
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
   * file system with the sandbox, else a copy. A new blob is one link to its final name (atomic:
   * the whole file or nothing); an existing one is replaced via a temp name and a rename, which
   * also repairs a blob damaged in place.
   */
  insertBlob(file: string, digest: ContentDigest): void {
    const final = this.blobPath(digest);
    chmodSync(file, 0o444);
    const shard = digest.slice(0, 2);
    if (!this.shards.has(shard)) {
      mkdirSync(join(this.dir, "cas", shard), { recursive: true });
      this.shards.add(shard);
    }
    // A blob already there (identical bytes from another action, or one damaged in place) is replaced.
    placeFile(file, final, () => join(this.dir, "tmp", `${process.pid}-${++tempCounter}`), false);
    this.verifiedBlobs.remember(final, statSync(final), digest, "kiln");
  }

  async close(): Promise<void> {
    this.flushPuts();
    if (!this.opened) return;
    await this.opened.flushed;
    await this.opened.close();
    this.opened = undefined;
  }
}
