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
import { HttpCacheClient, RemoteFault } from "./http-cache-client.js";
import { decodeResult, encodeResult, ResultRefused } from "./result-codec.js";

export interface RemoteCacheSettings {
  url: string;
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
  private readonly client: HttpCacheClient;
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
    this.client = new HttpCacheClient({
      url: settings.url,
      token: settings.token,
      extraCaFile: settings.extraCaFile,
      timeoutMs: settings.timeoutMs ?? 15_000,
      maxSockets: DOWNLOADS_AT_ONCE + UPLOADS_AT_ONCE,
    });
    if (this.client.caProblem) reporter({ type: "warning", message: this.client.caProblem });
  }

  async fetch(key: ActionKey, label: string): Promise<ActionResult | undefined> {
    if (this.tripped) return undefined;
    try {
      const bytes = await this.downloads.run(() => this.client.get(`ac/${key}`, RESULT_LIMIT));
      if (!bytes) return undefined;
      let result: ActionResult;
      let logSize: number;
      let originsDigest: ContentDigest | undefined;
      try {
        ({ result, logSize, originsDigest } = decodeResult(key, bytes, this.settings.signingKey));
      } catch (error) {
        if (!(error instanceof ResultRefused)) throw error;
        this.refuseResult(key, label, error.message);
        return undefined;
      }
      const blobs: { digest: ContentDigest; size: number | undefined; what: string }[] = [
        ...result.outputs.map((output) => ({ digest: output.digest, size: output.size as number | undefined, what: output.name })),
        ...(result.log ? [{ digest: result.log, size: logSize as number | undefined, what: "its log" }] : []),
        // The key is the SHA-256 of the canonical ingredients: they are the blob named by the key.
        { digest: key as string as ContentDigest, size: undefined, what: "its key's ingredients" },
      ];
      const outcomes = await Promise.all(blobs.map((blob) => this.fetchBlob(blob.digest, blob.size, label, blob.what)));
      if (!outcomes.every(Boolean)) return undefined;
      const ingredients = JSON.parse(readFileSync(this.local.blobPath(key as string as ContentDigest), "utf8")) as KeyIngredients;
      // Provenance's record: a hit without it is still a hit (the outputs are verified), only
      // its provenance is incomplete, as for a result stored by an older kiln.
      const origins = originsDigest && (await this.fetchBlob(originsDigest, undefined, label, "its provenance record", "its provenance will be incomplete")) ? readOrigins(this.local.blobPath(originsDigest)) : undefined;
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
    const blobs: ContentDigest[] = [...result.outputs.map((output) => output.digest), ...(result.log ? [result.log] : [])];
    for (const digest of blobs) {
      if (this.present.has(digest)) continue;
      if (!(await this.client.has(`cas/${digest}`))) {
        const file = this.local.blobPath(digest);
        await this.client.put(`cas/${digest}`, { file, size: statSync(file).size });
      }
      this.present.add(digest);
    }
    // The ingredients are the blob named by the key (the key is their SHA-256).
    if (!this.present.has(key)) {
      if (!(await this.client.has(`cas/${key}`))) await this.client.put(`cas/${key}`, { bytes: Buffer.from(encodeIngredients(ingredients)) });
      this.present.add(key);
    }
    // The origins (provenance's record) as a blob named in the result's metadata.
    let originsDigest: ContentDigest | undefined;
    if (origins) {
      const bytes = Buffer.from(canonicalJson(origins as unknown as Json));
      originsDigest = digestBytes(bytes);
      if (!this.present.has(originsDigest)) {
        if (!(await this.client.has(`cas/${originsDigest}`))) await this.client.put(`cas/${originsDigest}`, { bytes });
        this.present.add(originsDigest);
      }
    }
    const logSize = result.log ? statSync(this.local.blobPath(result.log)).size : 0;
    await this.client.put(`ac/${key}`, { bytes: encodeResult(key, result, logSize, this.settings.signingKey, originsDigest) });
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
