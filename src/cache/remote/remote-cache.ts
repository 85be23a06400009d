/**
 * The remote tier behind the local store. A fetch reads `/ac/<key>`, checks its signature when a
 * signing key is set, downloads every blob it names that the local store lacks (each verified
 * while it streams), and only then stores the result locally: a result is whole or a miss, never
 * half restored. Uploads run in the background, a few at once, blobs first (HEAD before PUT,
 * files streamed) and the result last, so a reader never sees a result whose blobs are not there.
 * Whatever the server or network does wrong trips a circuit breaker: one warning, then the rest
 * of the build is local only. A blob or result that fails verification is refused and reported
 * once; its step builds locally. Loaded only when a remote cache is configured.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { encodeIngredients, type ActionKey, type KeyIngredients } from "../../key/action-key.js";
import type { ContentDigest } from "../../key/digest.js";
import type { Reporter } from "../../events.js";
import type { RemoteTier } from "../action-cache.js";
import type { ActionOrigins, ActionResult, LocalStore } from "../local-store.js";
import type { Json } from "../../api/action-spec.js";
import { canonicalJson } from "../../key/canonical.js";
import { digestBytes } from "../../key/digest.js";
import { RemoteFault, type CacheTransport } from "./cache-transport.js";
import { GrpcCacheClient } from "./grpc-cache-client.js";
import { HttpCacheClient } from "./http-cache-client.js";
import { decodeResult, encodeResult, ResultRefused } from "./result-codec.js";

export interface RemoteCacheSettings {
  /** http(s):// for Bazel's HTTP cache protocol, grpc(s):// for REAPI's gRPC cache services. */
  url: string;
  /** The REAPI instance name (gRPC only). */
  instance?: string;
  token?: string;
  /** Write results (CI); otherwise read only. */
  upload: boolean;
  signingKey?: string;
  extraCaFile?: string;
  timeoutMs?: number;
}

/** An `/ac/` entry is a few hundred bytes per output; anything past this is not one. */
const RESULT_LIMIT = 16 << 20;
/** The ingredients blob lists every input path; an aggregator's can be large, never this large. */
const INGREDIENTS_LIMIT = 256 << 20;
const DOWNLOADS_AT_ONCE = 8;
const UPLOADS_AT_ONCE = 4;
let tempCounter = 0;

export class RemoteCache implements RemoteTier {
  private readonly client: CacheTransport;
  private tripped = false;
  /** Blobs refused this build (their bytes do not match their digest), by digest. */
  private readonly refusedBlobs = new Set<string>();
  /** Results refused this build (forged, unsigned, malformed). */
  private refusedResults = 0;
  private readonly downloads = new Slots(DOWNLOADS_AT_ONCE);
  private readonly uploads = new Slots(UPLOADS_AT_ONCE);
  private readonly pending = new Set<Promise<void>>();
  /** Blobs known to be on the server (uploaded or seen by HEAD) in this build. */
  private readonly present = new Set<string>();
  private notUploaded = 0;

  constructor(
    private readonly settings: RemoteCacheSettings,
    private readonly local: LocalStore,
    private readonly reporter: Reporter,
  ) {
    const timeoutMs = settings.timeoutMs ?? 15_000;
    this.client = /^grpcs?:/.test(settings.url)
      ? new GrpcCacheClient({ url: settings.url, instance: settings.instance ?? "", token: settings.token, extraCaFile: settings.extraCaFile, timeoutMs })
      : new HttpCacheClient({ url: settings.url, token: settings.token, extraCaFile: settings.extraCaFile, timeoutMs, maxSockets: DOWNLOADS_AT_ONCE + UPLOADS_AT_ONCE });
    if (this.client.caProblem) reporter({ type: "warning", message: this.client.caProblem });
  }

  async fetch(key: ActionKey, label: string, ingredients: KeyIngredients): Promise<ActionResult | undefined> {
    if (this.tripped) return undefined;
    try {
      const keySize = ingredientsSize(ingredients);
      const bytes = await this.downloads.run(() => this.client.getResult(key, keySize, RESULT_LIMIT));
      if (!bytes) return undefined;
      let result: ActionResult;
      let logSize: number;
      let originsRef: { digest: ContentDigest; size: number } | undefined;
      try {
        ({ result, logSize, origins: originsRef } = decodeResult(key, bytes, this.settings.signingKey));
      } catch (error) {
        if (!(error instanceof ResultRefused)) throw error;
        this.refuseResult(key, label, error.message);
        return undefined;
      }
      const blobs: { digest: ContentDigest; size: number | undefined; what: string }[] = [
        ...result.outputs.map((output) => ({ digest: output.digest, size: output.size as number | undefined, what: output.name })),
        ...(result.log ? [{ digest: result.log, size: logSize as number | undefined, what: "its log" }] : []),
        // The key is the SHA-256 of the canonical ingredients: they are the blob named by the key.
        { digest: key as string as ContentDigest, size: keySize, what: "its key's ingredients" },
      ];
      const outcomes = await Promise.all(blobs.map((blob) => this.fetchBlob(blob.digest, blob.size, label, blob.what)));
      if (!outcomes.every(Boolean)) return undefined;
      // Provenance's record: a hit without it is still a hit (the outputs are verified), only
      // its provenance is incomplete, as for a result stored by an older kiln.
      const origins = originsRef && (await this.fetchBlob(originsRef.digest, originsRef.size, label, "its provenance record", "its provenance will be incomplete")) ? readOrigins(this.local.blobPath(originsRef.digest)) : undefined;
      // The downloaded ingredients blob hashes to the key, so it holds exactly these ingredients.
      this.local.putAction(key, result, ingredients, origins);
      return result;
    } catch (error) {
      if (!(error instanceof RemoteFault)) throw error;
      this.trip(error);
      return undefined;
    }
  }

  /** True when the blob is in the local store, verified. */
  private async fetchBlob(digest: ContentDigest, size: number | undefined, label: string, what: string, ifRefused = `building ${label} locally`): Promise<boolean> {
    if (await this.local.hasValidBlob(digest)) return true;
    const temp = join(this.local.dir, "tmp", `${process.pid}-r${++tempCounter}`);
    const outcome = await this.downloads.run(() => this.client.download(digest, size, temp, INGREDIENTS_LIMIT));
    if (outcome === "missing") return false;
    if (outcome !== "ok") {
      this.refuseBlob(digest, `remote cache blob ${digest.slice(0, 12)} (${what} of ${label}) does not match its digest: ${outcome.mismatch}; refused, ${ifRefused}`);
      return false;
    }
    this.local.insertBlob(temp, digest);
    return true;
  }

  upload(key: ActionKey, result: ActionResult, ingredients: KeyIngredients, origins?: ActionOrigins): void {
    if (!this.settings.upload) return;
    if (this.tripped) {
      this.notUploaded++;
      return;
    }
    const task = this.uploads
      .run(() => (this.tripped ? Promise.reject(new Skipped()) : this.uploadNow(key, result, ingredients, origins)))
      .catch((error: unknown) => {
        if (error instanceof Skipped) this.notUploaded++;
        else if (error instanceof RemoteFault) {
          this.notUploaded++;
          this.trip(error);
        } else {
          this.notUploaded++;
          this.reporter({ type: "warning", message: `could not upload the result of ${ingredients.label} to the remote cache: ${(error as Error).message}` });
        }
      })
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  private async uploadNow(key: ActionKey, result: ActionResult, ingredients: KeyIngredients, origins: ActionOrigins | undefined): Promise<void> {
    // The ingredients are the blob named by the key (the key is their SHA-256).
    const encodedIngredients = Buffer.from(encodeIngredients(ingredients));
    const logSize = result.log ? statSync(this.local.blobPath(result.log)).size : 0;
    const blobs = new Map<string, { size: number; body: () => { bytes: Uint8Array } | { file: string; size: number } }>();
    for (const digest of [...result.outputs.map((output) => output.digest), ...(result.log ? [result.log] : [])]) {
      const file = this.local.blobPath(digest);
      const size = statSync(file).size;
      blobs.set(digest, { size, body: () => ({ file, size }) });
    }
    blobs.set(key, { size: encodedIngredients.length, body: () => ({ bytes: encodedIngredients }) });
    // The origins (provenance's record) as a blob named in the result's metadata.
    let originsRef: { digest: ContentDigest; size: number } | undefined;
    if (origins) {
      const bytes = Buffer.from(canonicalJson(origins as unknown as Json));
      originsRef = { digest: digestBytes(bytes), size: bytes.length };
      blobs.set(originsRef.digest, { size: bytes.length, body: () => ({ bytes }) });
    }
    const unknown = [...blobs].filter(([hash]) => !this.present.has(hash)).map(([hash, { size }]) => ({ hash, size }));
    const missing = await this.client.findMissing(unknown);
    for (const { hash } of unknown) {
      const blob = blobs.get(hash)!;
      if (missing.has(hash)) await this.client.putBlob({ hash, size: blob.size }, blob.body());
      this.present.add(hash);
    }
    await this.client.putResult(key, encodedIngredients.length, encodeResult(key, result, logSize, this.settings.signingKey, originsRef));
  }

  async close(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    this.client.close();
    if (this.refusedResults > 1) {
      this.reporter({ type: "warning", message: `${this.refusedResults} remote cache results were refused in all, and built locally` });
    }
    if (this.refusedBlobs.size > 1) {
      this.reporter({ type: "warning", message: `${this.refusedBlobs.size} remote cache blobs were refused in all (their bytes do not match their digests); their steps were built locally` });
    }
    if (this.notUploaded > 0 && this.tripped) {
      this.reporter({ type: "warning", message: `${this.notUploaded} result${this.notUploaded === 1 ? " was" : "s were"} not uploaded to the remote cache` });
    }
  }

  /** One warning for the build, then local only. */
  private trip(fault: RemoteFault): void {
    if (this.tripped) return;
    this.tripped = true;
    this.reporter({
      type: "warning",
      message: `remote cache ${this.client.displayUrl} ${fault.message}: using the local cache only for the rest of this build`,
    });
  }

  /**
   * A refused result: the first is a warning, the rest are counted and summed up at the end. A
   * cache an attacker (or a pull request's job) wrote refuses every entry: one line a step would
   * bury the build's output.
   */
  private refuseResult(key: ActionKey, label: string, reason: string): void {
    if (++this.refusedResults > 1) return;
    this.reporter({
      type: "warning",
      message: `remote cache result for ${label} (${key.slice(0, 12)}) refused: ${reason}; building it locally (further refusals are counted at the end)`,
    });
  }

  /**
   * A refused blob, counted like refused results: the first is a warning, the rest one count at
   * the end. A server whose disk was tampered with refuses every blob, several a step.
   */
  private refuseBlob(digest: string, message: string): void {
    if (this.refusedBlobs.has(digest)) return;
    this.refusedBlobs.add(digest);
    if (this.refusedBlobs.size > 1) return;
    this.reporter({ type: "warning", message: `${message} (further refusals are counted at the end)` });
  }
}

class Skipped extends Error {}

/**
 * Origins read back from their blob (verified against its digest, so they are what the uploader
 * stored; a signed result names the digest, so with a signing key they are vouched for too).
 * A blob without their shape is ignored: provenance then reports the step incomplete.
 */
function readOrigins(path: string): ActionOrigins | undefined {
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as ActionOrigins;
    const pairs = (list: unknown) => list === undefined || (Array.isArray(list) && list.every((p) => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === "string")));
    if (typeof value !== "object" || value === null || !pairs(value.deps) || value.deps === undefined) return undefined;
    if (typeof value.sources !== "object" || value.sources === null || !pairs(value.code) || !pairs(value.definition)) return undefined;
    return value;
  } catch {
    return undefined;
  }
}

/** The size of the blob a key names (its encoded ingredients), which REAPI's digests carry. */
function ingredientsSize(ingredients: KeyIngredients): number {
  return Buffer.byteLength(encodeIngredients(ingredients));
}

/** At most `size` tasks at once, the rest in order. */
class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
