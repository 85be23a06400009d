/**
 * The local cache: an LMDB index (action key -> action result) and a content-addressed store of
 * blobs as read-only files named by their SHA-256 (`cas/ab/abcdef...`), so outputs of any size
 * are streamed and can be hard-linked into sandboxes and kiln-out.
 * Invariants: a blob enters the store by rename (never half-written at its final name); an action
 * result is written only after all its blobs are in place; a blob is verified against its digest
 * (memoised by stat) before use, and a corrupt one is deleted and reported as missing.
 * The index heals itself (see index-health.ts): a damaged one is moved aside, with one warning,
 * and the build goes on as if it were empty. A cache dir the machine will not let kiln write
 * (permissions, a read-only or full file system) is an environment error naming the directory.
 */
import type { SandboxMode } from "../exec/namespace-sandbox.js";
import { accessSync, chmodSync, constants, mkdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import { describeError, isEnvironmentError, KilnError } from "../errors.js";
import type { ContentDigest } from "../key/digest.js";
import type { KeyIngredients } from "../key/action-key.js";
import type { StatCache } from "../state/stat-cache.js";
import { finishIndex, INDEX_FILE, moveIndexAside, prepareIndex } from "./index-health.js";
import { placeFile } from "./place-file.js";
import { chunkPairs, CHUNKED_FROM, joinChunks, type Pair } from "./chunked-pairs.js";

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
  sandbox?: SandboxMode;
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
  /**
   * The files that define the action, as they were when it was keyed: its package's BUILD.ts,
   * WORKSPACE.ts and (for an action reading `@source`s) kiln.lock. Provenance lists them as
   * materials; absent in results stored before they were recorded.
   */
  definition?: [string, string][];
}

/**
 * Ingredients and origins as stored: a list of CHUNKED_FROM entries or more (an aggregator's
 * inputs, its dependencies) is kept as the names of shared chunks (`ch/<name>` records; see
 * chunked-pairs.ts) and the list itself left empty.
 */
type StoredIngredients = KeyIngredients & { inputChunks?: string[] };
type StoredOrigins = ActionOrigins & { depChunks?: string[] };
type IndexValue = ActionResult | StoredIngredients | StoredOrigins | Pair[] | number;

/** Default cache location: $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.KILN_CACHE_DIR) return env.KILN_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "kiln");
  return join(homedir(), ".cache", "kiln");
}

let tempCounter = 0;
/** How long finished results wait to be committed together (see putAction). */
const PUT_BATCH_MS = 25;

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/**
 * True if `value` has the shape of an action result whose outputs are exactly `outs` (sorted, as
 * the key records them). A record that disagrees with its own key is damage: trusting it would
 * put wrong files into kiln-out and remove the right ones as undeclared.
 */
export function isActionResult(value: unknown, outs?: readonly string[]): value is ActionResult {
  if (value === null || typeof value !== "object") return false;
  const { outputs, ms } = value as Partial<ActionResult>;
  if (!Array.isArray(outputs) || typeof ms !== "number") return false;
  for (const output of outputs as unknown[]) {
    if (output === null || typeof output !== "object") return false;
    const { name, digest, size } = output as Partial<OutputRecord>;
    if (typeof name !== "string" || name.length === 0 || typeof digest !== "string" || !HEX_DIGEST.test(digest) || typeof size !== "number") return false;
  }
  if (outs && (outs.length !== outputs.length || outs.some((name, i) => outputs[i]!.name !== name))) return false;
  return true;
}

/** The environment error for a cache dir kiln cannot use. */
export function cacheDirError(dir: string, error: unknown, doing: string): KilnError {
  return new KilnError(
    "environment",
    `cannot ${doing} in the cache directory ${dir}: ${describeError(error)}\n` +
      `  make it writable (or free space), or use another with --cache-dir DIR or KILN_CACHE_DIR=DIR`,
  );
}

export class LocalStore {
  private opened?: RootDatabase<IndexValue, string>;
  /**
   * Set once the index proved damaged in this process: it is moved aside, the rest of the build
   * reads nothing from it, and the results it stores wait for close() to go into a fresh index.
   */
  private abandoned = false;
  /** The damaged index, closed (never read again) by close(). */
  private damaged?: RootDatabase<IndexValue, string>;
  /** This process's open-marker (see index-health.ts), while the index is open. */
  private marker?: string;
  /** The first failure to store results (a full disk...), reported when the store closes. */
  private writeFailure?: unknown;
  /** Blob shard directories known to exist (at most 256). */
  private readonly shards = new Set<string>();
  private readonly pendingPuts: [string, ActionResult, KeyIngredients, ActionOrigins | undefined][] = [];
  private putTimer: NodeJS.Timeout | undefined;
  private readonly writes: Promise<unknown>[] = [];
  /** Keys hit this build, whose last use is written with the next batch of results (for gc's LRU). */
  private readonly usedKeys = new Set<string>();
  /** Bytes of blobs this process put in the store: the automatic trim's estimate grows by them. */
  bytesInserted = 0;
  /** Where warnings go (the build's reporter); stderr until set. */
  onWarning: (message: string) => void = (message) => process.stderr.write(`kiln: warning: ${message}\n`);

  private constructor(
    readonly dir: string,
    private readonly verifiedBlobs: StatCache,
  ) {}

  /**
   * The store at `dir`. The LMDB index opens on first use: a no-op build never needs it.
   * Throws an environment error naming `dir` if it cannot be made or written.
   */
  static async open(dir: string, verifiedBlobs: StatCache): Promise<LocalStore> {
    try {
      mkdirSync(join(dir, "cas"), { recursive: true });
      mkdirSync(join(dir, "tmp"), { recursive: true });
      // mkdir of directories that exist succeeds on a read-only file system: ask.
      accessSync(dir, constants.W_OK);
      accessSync(join(dir, "tmp"), constants.W_OK);
    } catch (error) {
      throw cacheDirError(dir, error, "write");
    }
    return new LocalStore(dir, verifiedBlobs);
  }

  get indexPath(): string {
    return join(this.dir, INDEX_FILE);
  }

  /** The index, opened (and checked, if in doubt) on first use; undefined once abandoned. */
  private get index(): RootDatabase<IndexValue, string> | undefined {
    if (this.opened || this.abandoned) return this.opened;
    const require = createRequire(import.meta.url);
    const lmdbEntry = require.resolve("lmdb");
    let opening;
    try {
      opening = prepareIndex(this.dir, lmdbEntry);
    } catch (error) {
      throw cacheDirError(this.dir, error, "open the index");
    }
    this.marker = opening.marker;
    if (opening.movedAside) {
      this.onWarning(
        `the cache index ${this.indexPath} was damaged (${opening.movedAside.reason}); moved it aside to ` +
          `${join(this.dir, opening.movedAside.aside)} and started a fresh one (cached blobs are kept and verified on use)`,
      );
    }
    const { open } = require("lmdb") as typeof import("lmdb");
    for (let attempt = 0; ; attempt++) {
      try {
        this.opened = open<ActionResult | KeyIngredients | ActionOrigins | number, string>({ path: this.indexPath, compression: false });
        this.quietLmdb();
        return this.opened;
      } catch (error) {
        if (isEnvironmentError(error)) throw cacheDirError(this.dir, error, "open the index");
        // Not LMDB's (a wrong format, a version it cannot read): aside, and once more fresh.
        const aside = attempt === 0 ? moveIndexAside(this.dir) : undefined;
        if (!aside) throw cacheDirError(this.dir, error, "open the index");
        this.onWarning(`the cache index ${this.indexPath} could not be opened (${describeError(error)}); moved it aside to ${join(this.dir, aside)} and started a fresh one`);
      }
    }
  }

  /**
   * A failed commit rejects promises inside lmdb-js that nobody can handle (besides the ones
   * put() returns): kept as the write failure close() reports, not a crash. Anything else is
   * rethrown, as Node would have.
   */
  private readonly onStrayRejection = (reason: unknown): void => {
    const fromLmdb = reason instanceof Error && (reason.message.startsWith("Commit failed") || /[\\/]lmdb[\\/]/.test(reason.stack ?? ""));
    if (!fromLmdb) throw reason;
    // Keep the cause (ENOSPC...) over lmdb-js's "Commit failed (see commitError for details)".
    const vague = (error: unknown) => error instanceof Error && error.message.startsWith("Commit failed");
    if (this.writeFailure === undefined || (vague(this.writeFailure) && !vague(reason))) this.writeFailure = reason;
  };

  /**
   * lmdb-js console.error()s a failed commit's error, stack and all, before rejecting with it,
   * and rejects promises no caller holds: while the index is open both are kept (see
   * onStrayRejection) for close() to report in one line instead.
   */
  private quietLmdb(): void {
    if (this.consoleError) return;
    process.on("unhandledRejection", this.onStrayRejection);
    const original = (this.consoleError = console.error);
    console.error = (...args: unknown[]) => {
      const [first] = args;
      if (first instanceof Error && /[\\/]lmdb[\\/]/.test(first.stack ?? "")) this.onStrayRejection(first);
      else original(...args);
    };
  }
  private consoleError?: typeof console.error;

  /**
   * An LMDB error in this process: the index is damaged. It is moved aside at once (this process
   * keeps its mapping, and never reads it again), so the next build starts fresh; this one goes
   * on without cached results. An environment error instead fails the build naming the dir.
   */
  private abandon(error: unknown): void {
    if (isEnvironmentError(error)) throw cacheDirError(this.dir, error, "read the index");
    if (this.abandoned) return;
    this.abandoned = true;
    this.damaged = this.opened;
    this.opened = undefined;
    let where = "";
    try {
      const aside = moveIndexAside(this.dir);
      if (aside) where = `; moved it aside to ${join(this.dir, aside)} and started a fresh one`;
    } catch (moveError) {
      where = `; could not move it aside (${describeError(moveError)}): remove it`;
    }
    this.onWarning(`the cache index ${this.indexPath} is damaged (${describeError(error)})${where}; this build goes on without cached results`);
  }

  blobPath(digest: ContentDigest): string {
    return join(this.dir, "cas", digest.slice(0, 2), digest);
  }

  /**
   * The stored result of `key`, if any. `outs` (the sorted declared outputs the key was made
   * with) must be exactly its outputs' names; a record that is not is damage, and a miss.
   */
  getAction(key: string, outs?: readonly string[]): ActionResult | undefined {
    const pending = this.pendingPuts.find(([pendingKey]) => pendingKey === key);
    if (pending) return pending[1];
    // Opening may throw the environment's error: that fails the build, naming the dir.
    const index = this.index;
    let value: unknown;
    try {
      value = index?.get(`ac/${key}`);
    } catch (error) {
      this.abandon(error);
      return undefined;
    }
    if (value === undefined) return undefined;
    if (!isActionResult(value, outs)) {
      this.abandon(new Error(`the record for ${key.slice(0, 12)} does not match its key's outputs`));
      return undefined;
    }
    return value;
  }

  /**
   * What the key was computed from, for `--explain` and `kiln why`. Kept apart from the result:
   * an aggregator's record lists thousands of inputs, and a cache hit never needs it.
   */
  getIngredients(key: string): KeyIngredients | undefined {
    const index = this.index;
    try {
      const stored = index?.get(`in/${key}`) as StoredIngredients | undefined;
      if (!stored?.inputChunks) return stored;
      const { inputChunks, ...rest } = stored;
      const inputs = this.joinStored(inputChunks);
      return inputs && { ...rest, inputs };
    } catch (error) {
      this.abandon(error);
      return undefined;
    }
  }

  /** Where the inputs of `key`'s action came from (see ActionOrigins); absent for results of older kilns. */
  getOrigins(key: string): ActionOrigins | undefined {
    const stored = this.storedOrigins(key);
    if (!stored?.depChunks) return stored;
    const { depChunks, ...rest } = stored;
    try {
      const deps = this.joinStored(depChunks);
      return deps && { ...rest, deps };
    } catch (error) {
      this.abandon(error);
      return undefined;
    }
  }

  /** A chunked list read back (chunked-pairs.ts); undefined if a chunk is missing or malformed. */
  private joinStored(names: readonly string[]): Pair[] | undefined {
    const index = this.index;
    return index && joinChunks(names, (name) => index.get(`ch/${name}`));
  }

  /** The origins record as stored: its dependencies may be chunk names still. */
  private storedOrigins(key: string): StoredOrigins | undefined {
    const pending = this.pendingPuts.find(([pendingKey]) => pendingKey === key);
    if (pending) return pending[3];
    const index = this.index;
    try {
      return index?.get(`or/${key}`) as StoredOrigins | undefined;
    } catch (error) {
      this.abandon(error);
      return undefined;
    }
  }

  /**
   * On a cache hit: the same bytes were read from a source described differently (a path source
   * that became a url with the same sha256), or the action was defined by other bytes of BUILD.ts,
   * WORKSPACE.ts or kiln.lock (a comment edited); provenance then names them as they are now.
   */
  refreshOrigins(key: string, origins: ActionOrigins): void {
    const stored = this.storedOrigins(key);
    if (stored && JSON.stringify(stored.sources) === JSON.stringify(origins.sources) && JSON.stringify(stored.definition) === JSON.stringify(origins.definition)) return;
    const index = this.index;
    if (!index) return;
    this.writes.push(index.put(`or/${key}`, origins).catch((error: unknown) => this.writeFailed(error)));
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
    if (this.abandoned) return;
    this.putTimer ??= setTimeout(() => this.flushPuts(), PUT_BATCH_MS);
  }

  /**
   * A lookup hit `key`: its last use (`lu/<key>`, milliseconds) is written with the next batch,
   * so gc removes least recently used results first. Outputs found in place in kiln-out are not
   * noted (that path never opens the index); gc sees those blobs are linked elsewhere instead.
   */
  noteUse(key: string): void {
    this.usedKeys.add(key);
    if (this.abandoned) return;
    this.putTimer ??= setTimeout(() => this.flushPuts(), PUT_BATCH_MS);
  }

  /** Every indexed result with its last use (the later of its `lu/` record and its creation). */
  *listResults(): Generator<{ key: string; result: ActionResult; lastUsed: number }> {
    const index = this.index;
    if (!index) return;
    const uses = new Map<string, number>();
    for (const { key, value } of index.getRange({ start: "lu/", end: "lu0" })) if (typeof value === "number") uses.set(key.slice(3), value);
    for (const { key, value } of index.getRange({ start: "ac/", end: "ac0" })) {
      if (!isActionResult(value)) continue;
      const name = key.slice(3);
      yield { key: name, result: value, lastUsed: Math.max(uses.get(name) ?? 0, value.createdAt ?? 0) };
    }
  }

  /**
   * Removes results and everything kept beside them (ingredients, origins, last use), in one
   * transaction: a reader sees each result whole or gone. Then the chunks nothing names.
   */
  async removeActions(keys: readonly string[]): Promise<void> {
    const index = this.index;
    if (!index || keys.length === 0) return;
    await index.transaction(() => {
      for (const key of keys) for (const prefix of ["ac/", "in/", "or/", "lu/"]) index.removeSync(`${prefix}${key}`);
    });
    await this.removeUnreferencedChunks(index);
  }

  private flushPuts(): void {
    clearTimeout(this.putTimer);
    this.putTimer = undefined;
    if ((this.pendingPuts.length === 0 && this.usedKeys.size === 0) || this.abandoned) return;
    let index;
    try {
      index = this.index;
    } catch (error) {
      // Called from a timer: keep the failure for close() to report.
      this.writeFailure ??= error;
      this.pendingPuts.length = 0;
      return;
    }
    for (const [key, result, ingredients, origins] of this.pendingPuts.splice(0)) {
      if (!index) continue;
      const puts: Promise<boolean>[] = [];
      const inputChunks = this.putChunks(index, ingredients.inputs, puts);
      const depChunks = origins && this.putChunks(index, origins.deps, puts);
      const storedIngredients: StoredIngredients = inputChunks ? { ...ingredients, inputs: [], inputChunks } : ingredients;
      const storedOrigins: StoredOrigins | undefined = origins && depChunks ? { ...origins, deps: [], depChunks } : origins;
      puts.push(index.put(`in/${key}`, storedIngredients));
      if (storedOrigins) puts.push(index.put(`or/${key}`, storedOrigins));
      puts.push(index.put(`ac/${key}`, result));
      this.writes.push(Promise.all(puts).catch((error: unknown) => this.writeFailed(error)));
    }
    if (index && this.usedKeys.size > 0) {
      const now = Date.now();
      const puts = [...this.usedKeys].map((key) => index.put(`lu/${key}`, now));
      this.usedKeys.clear();
      this.writes.push(Promise.all(puts).catch((error: unknown) => this.writeFailed(error)));
    }
  }

  /**
   * A long list's chunk names, putting the chunks the index lacks (in the same batch, before the
   * records naming them); undefined for a list short enough to stay inline.
   */
  private putChunks(index: RootDatabase<IndexValue, string>, list: readonly Pair[], puts: Promise<boolean>[]): string[] | undefined {
    if (list.length < CHUNKED_FROM) return undefined;
    const chunks = chunkPairs(list);
    for (const { name, pairs } of chunks) if (!index.doesExist(`ch/${name}`)) puts.push(index.put(`ch/${name}`, pairs));
    return chunks.map((chunk) => chunk.name);
  }

  /**
   * Removes the chunks no ingredients or origins name any more, in one transaction that also
   * reads the names (a build committing meanwhile is seen or waits). A build that found a chunk
   * present just before this removed it loses that record's list: `kiln why` and provenance
   * then say it is not recorded; no result changes.
   */
  private async removeUnreferencedChunks(index: RootDatabase<IndexValue, string>): Promise<void> {
    await index.transaction(() => {
      const named = new Set<string>();
      for (const { value } of index.getRange({ start: "in/", end: "in0" })) for (const name of (value as StoredIngredients).inputChunks ?? []) named.add(name);
      for (const { value } of index.getRange({ start: "or/", end: "or0" })) for (const name of (value as StoredOrigins).depChunks ?? []) named.add(name);
      const unnamed = [...index.getKeys({ start: "ch/", end: "ch0" })].filter((key) => !named.has(key.slice(3)));
      for (const key of unnamed) index.removeSync(key);
    });
  }

  /** A commit failed: a full disk is the environment's (reported at close); anything else is damage. */
  private async writeFailed(error: unknown): Promise<void> {
    // lmdb-js rejects with "Commit failed (see commitError for details)".
    const commitError = (error as { commitError?: Promise<unknown> }).commitError;
    let cause = error;
    if (commitError) {
      try {
        await commitError;
      } catch (inner) {
        cause = inner;
      }
    }
    if (isEnvironmentError(cause)) this.writeFailure ??= cause;
    else {
      try {
        this.abandon(cause);
      } catch (environment) {
        this.writeFailure ??= environment;
      }
    }
  }

  /**
   * After the index was abandoned: closes the damaged one (lmdb-js shares an environment by path
   * within a process, so a fresh index at the same path can open only after it) and stores this
   * build's results in a fresh one, so the next build finds them.
   */
  private async storeInFreshIndex(): Promise<void> {
    const damaged = this.damaged;
    this.damaged = undefined;
    try {
      await damaged?.close();
    } catch {
      // Its mapping goes with the process.
    }
    if (this.pendingPuts.length === 0) return;
    this.abandoned = false;
    this.flushPuts();
    await Promise.all(this.writes.splice(0));
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
   * also repairs a blob damaged in place. A full or read-only cache is an environment error.
   */
  insertBlob(file: string, digest: ContentDigest): void {
    const final = this.blobPath(digest);
    try {
      chmodSync(file, 0o444);
      const shard = digest.slice(0, 2);
      if (!this.shards.has(shard)) {
        mkdirSync(join(this.dir, "cas", shard), { recursive: true });
        this.shards.add(shard);
      }
      // A blob already there (identical bytes from another action, or one damaged in place) is replaced.
      placeFile(file, final, () => join(this.dir, "tmp", `${process.pid}-${++tempCounter}`), false);
    } catch (error) {
      if (isEnvironmentError(error)) throw cacheDirError(this.dir, error, "store an output");
      throw error;
    }
    const stats = statSync(final);
    this.bytesInserted += stats.size;
    this.verifiedBlobs.remember(final, stats, digest, "kiln");
  }

  /**
   * Commits what is queued and closes the index; a clean close is recorded (see index-health.ts).
   * Throws an environment error if results could not be stored.
   */
  async close(): Promise<void> {
    this.flushPuts();
    await Promise.all(this.writes.splice(0));
    if (this.abandoned) await this.storeInFreshIndex();
    const opened = this.opened;
    this.opened = undefined;
    if (opened && this.writeFailure === undefined) {
      try {
        await opened.flushed;
        await opened.close();
      } catch (error) {
        this.writeFailure ??= error;
      }
    } else if (opened) {
      // After a failed commit lmdb-js's flushed and close() never settle: the environment
      // closes with the process. (LMDB aborted that transaction; the file is as it was.)
      void opened.close().catch(() => undefined);
    }
    // After a failed commit, lmdb-js rejects more of its promises later: keep them handled.
    if (this.writeFailure === undefined) {
      process.off("unhandledRejection", this.onStrayRejection);
      if (this.consoleError) console.error = this.consoleError;
      this.consoleError = undefined;
    }
    if (this.marker) {
      try {
        finishIndex(this.dir, this.marker, !this.abandoned && this.writeFailure === undefined);
      } catch {
        // The marker stays: the next build checks the index, as after a crash.
      }
      this.marker = undefined;
    }
    if (this.writeFailure !== undefined) {
      const error = this.writeFailure;
      this.writeFailure = undefined;
      if (error instanceof KilnError) throw error;
      throw new KilnError(
        "environment",
        `could not store this build's results in the cache index ${this.indexPath}: ${describeError(error)}\n` +
          `  the outputs in kiln-out are complete and the next build reuses them; free space, or use another cache with --cache-dir DIR or KILN_CACHE_DIR=DIR`,
      );
    }
  }
}
