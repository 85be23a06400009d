/**
 * The one cache interface the builder talks to: look a key up (a hit has every output blob present
 * and verified in the local store, ready to materialize), store a finished result, close (wait for
 * background work). Behind it: the local store alone, or the local store in front of a remote one
 * (TieredCache, after Turborepo's cache multiplexer). The builder learns where a hit came from
 * only to report it.
 */
import type { ActionKey, KeyIngredients } from "../key/action-key.js";
import type { StatCache } from "../state/stat-cache.js";
import type { Reporter } from "../events.js";
import type { ContentDigest } from "../key/digest.js";
import type { ActionOrigins, ActionResult, LocalStore, OutputRecord } from "./local-store.js";
import { materializeOutputs, outputsInPlace } from "./materialize.js";

export interface CacheHit {
  result: ActionResult;
  source: "local" | "remote";
}

export interface LookupContext {
  /** For messages. */
  label: string;
  /** The target's directory in kiln-out: outputs already there need no blob. */
  outDir: string;
  /** The caller just found this key's outputs missing or changed in kiln-out. */
  knownOutOfPlace: boolean;
  /** The key's declared outputs, sorted: a result listing other names is damage or forgery, a miss. */
  outs: readonly string[];
  /** What the key was computed from: a remote names the entry by their blob's digest. */
  ingredients: KeyIngredients;
}

export interface ActionCache {
  lookup(key: ActionKey, context: LookupContext): Promise<CacheHit | undefined>;
  /**
   * Puts a hit's or a fresh result's outputs (verified blobs in the local store) into `outDir` in
   * kiln-out, through temp names: a crash leaves each file whole or absent.
   */
  materialize(outDir: string, outputs: readonly OutputRecord[]): void;
  /** Moves (links) a finished file into the local store as the blob `digest`; returns its path. */
  putBlob(file: string, digest: ContentDigest): string;
  /** What the result stored under `key` was made of (for --explain), if the local index has it. */
  ingredientsOf(key: ActionKey): KeyIngredients | undefined;
  /** A hit read @sources: record where they came from this time (for provenance). */
  refreshOrigins(key: ActionKey, origins: ActionOrigins): void;
  /**
   * A successful result whose output blobs are already in the local store. `origins` (where its
   * inputs came from, for provenance) is kept locally only.
   */
  store(key: ActionKey, result: ActionResult, ingredients: KeyIngredients, origins?: ActionOrigins): void;
  /** Waits for background work (uploads) to finish or fail; reports failures. */
  close(): Promise<void>;
}

/** The local store as an ActionCache. */
export class LocalActionCache implements ActionCache {
  constructor(
    private readonly store_: LocalStore,
    private readonly statCache: StatCache,
    private readonly reporter: Reporter,
    /** Same file system as kiln-out: materializing goes through temp names here. */
    private readonly tempDir: string,
  ) {}

  /**
   * The cached result of `key`: one whose outputs are already in kiln-out (known by stat: no blob
   * is touched) or whose every blob is present and intact; anything less is a miss.
   */
  async lookup(key: ActionKey, context: LookupContext): Promise<CacheHit | undefined> {
    const result = this.store_.getAction(key, context.outs);
    if (!result) return undefined;
    if (!context.knownOutOfPlace && outputsInPlace(context.outDir, result.outputs, this.statCache)) {
      this.store_.noteUse(key);
      return { result, source: "local" };
    }
    for (const output of result.outputs) {
      if (!(await this.store_.hasValidBlob(output.digest))) {
        this.reporter({ type: "warning", message: `cache blob ${output.digest.slice(0, 12)} (${output.name}) was missing or corrupt; rebuilding` });
        return undefined;
      }
    }
    this.store_.noteUse(key);
    return { result, source: "local" };
  }

  store(key: ActionKey, result: ActionResult, ingredients: KeyIngredients, origins?: ActionOrigins): void {
    this.store_.putAction(key, result, ingredients, origins);
  }

  materialize(outDir: string, outputs: readonly OutputRecord[]): void {
    materializeOutputs(outDir, outputs, this.store_, this.statCache, this.tempDir);
  }

  putBlob(file: string, digest: ContentDigest): string {
    this.store_.insertBlob(file, digest);
    return this.store_.blobPath(digest);
  }

  ingredientsOf(key: ActionKey): KeyIngredients | undefined {
    return this.store_.getIngredients(key);
  }

  refreshOrigins(key: ActionKey, origins: ActionOrigins): void {
    this.store_.refreshOrigins(key, origins);
  }

  async close(): Promise<void> {}
}

/** What a remote cache must do to sit behind the local one. */
export interface RemoteTier {
  /** A verified result with all its blobs now in the local store (and the result too), or a miss. */
  fetch(key: ActionKey, label: string, ingredients: KeyIngredients): Promise<ActionResult | undefined>;
  /** Queues an upload of a result stored locally, with its origins for provenance (a no-op unless uploads are on). */
  upload(key: ActionKey, result: ActionResult, ingredients: KeyIngredients, origins?: ActionOrigins): void;
  close(): Promise<void>;
}

/** Local first, then remote; results are stored locally, then uploaded in the background. */
export class TieredCache implements ActionCache {
  constructor(
    private readonly local: ActionCache,
    private readonly remote: RemoteTier,
  ) {}

  async lookup(key: ActionKey, context: LookupContext): Promise<CacheHit | undefined> {
    const hit = await this.local.lookup(key, context);
    if (hit) return hit;
    const result = await this.remote.fetch(key, context.label, context.ingredients);
    if (!result) return undefined;
    // The key covers the declared outputs: a remote result naming others is not this action's.
    const names = result.outputs.map((output) => output.name).sort();
    if (names.length !== context.outs.length || names.some((name, i) => name !== context.outs[i])) return undefined;
    return { result, source: "remote" };
  }

  store(key: ActionKey, result: ActionResult, ingredients: KeyIngredients, origins?: ActionOrigins): void {
    this.local.store(key, result, ingredients, origins);
    this.remote.upload(key, result, ingredients, origins);
  }

  // A remote hit's blobs are in the local store already: everything else is the local tier's.
  materialize(outDir: string, outputs: readonly OutputRecord[]): void {
    this.local.materialize(outDir, outputs);
  }

  putBlob(file: string, digest: ContentDigest): string {
    return this.local.putBlob(file, digest);
  }

  ingredientsOf(key: ActionKey): KeyIngredients | undefined {
    return this.local.ingredientsOf(key);
  }

  refreshOrigins(key: ActionKey, origins: ActionOrigins): void {
    this.local.refreshOrigins(key, origins);
  }

  async close(): Promise<void> {
    await Promise.all([this.local.close(), this.remote.close()]);
  }
}
