/**
 * What the remote cache needs of a wire: results by key and blobs by digest. Two wires speak it:
 * Bazel's HTTP cache protocol (http-cache-client.ts: nginx, bazel-remote, `kiln cache serve`) and
 * REAPI's gRPC services (grpc-cache-client.ts: bazel-remote, Buildbarn, BuildBuddy, EngFlow).
 * Anything the server or the network does wrong is thrown as a RemoteFault with one line saying
 * what; a miss is not a fault.
 */

/** The server or the network failed (down, refused, 5xx, timeout, cut off): not a miss. */
export class RemoteFault extends Error {}

/** What a verified download came to. */
export type Download = "ok" | "missing" | { mismatch: string };

/** A blob by content: lowercase hex SHA-256 and size in bytes. */
export interface BlobRef {
  hash: string;
  size: number;
}

export type UploadBody = { bytes: Uint8Array } | { file: string; size: number };

export interface CacheTransport {
  /** The server's address without credentials: the only form of it ever shown. */
  readonly displayUrl: string;
  /** Why a configured CA file was not used, if it could not be read. */
  readonly caProblem?: string;
  /**
   * The encoded ActionResult stored under `key`, or undefined for a miss. `key` is the SHA-256 of
   * the key's ingredients blob, whose size is `keySize` (REAPI names an AC entry by a digest).
   */
  getResult(key: string, keySize: number, maxBytes: number): Promise<Uint8Array | undefined>;
  putResult(key: string, keySize: number, encoded: Uint8Array): Promise<void>;
  /** The hashes among `blobs` the server does not have. */
  findMissing(blobs: readonly BlobRef[]): Promise<Set<string>>;
  /** Uploads bytes, or a file streamed from disk (never whole in memory). */
  putBlob(blob: BlobRef, body: UploadBody): Promise<void>;
  /**
   * Streams the blob into `file`, hashing as it goes: "ok" when the bytes are exactly the digest's,
   * "missing" when the server has no such blob, a mismatch otherwise (the file is removed).
   * `size` undefined (a wire that can do without): any size up to `maxBytes`.
   */
  download(hash: string, size: number | undefined, file: string, maxBytes: number): Promise<Download>;
  close(): void;
}
