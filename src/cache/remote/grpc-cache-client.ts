/**
 * A client of REAPI's cache services over gRPC (what bazel-remote, Buildbarn, BuildBuddy and
 * EngFlow serve at grpc:// or grpcs:// addresses): ActionCache for results, the
 * ContentAddressableStorage's FindMissingBlobs and batch calls for small blobs, ByteStream for
 * large ones, Capabilities once for the batch limit. HTTP/2 through @connectrpc/connect-node,
 * messages from our own protos (proto/, official names and field numbers).
 *
 * An AC entry is named by a digest, not a bare hash: kiln names its result by the digest of the
 * key's ingredients blob (the key is their SHA-256), which it also puts in the CAS, so the entry's
 * name is a real blob, as REAPI's Action digests are.
 */
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream, readFileSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ByteStream, type WriteRequest, WriteRequestSchema } from "./gen/google/bytestream/bytestream_pb.js";
import {
  ActionCache,
  ActionResultSchema,
  Capabilities,
  ContentAddressableStorage,
  DigestFunction_Value,
  type Digest,
} from "./gen/build/bazel/remote/execution/v2/remote_execution_pb.js";
import { RemoteFault, type BlobRef, type CacheTransport, type Download, type UploadBody } from "./cache-transport.js";

export interface GrpcCacheOptions {
  /** grpc://host:port or grpcs://host:port. */
  url: string;
  /** REAPI instance name ("" for none): the first path segment(s) of every resource name. */
  instance: string;
  /** Sent as `authorization: Bearer`. */
  token?: string;
  /** A PEM file of extra CA certificates (NODE_EXTRA_CA_CERTS), for grpcs. */
  extraCaFile?: string;
  /** A call unanswered this long fails. */
  timeoutMs: number;
}

/** Blobs up to this size (and batches up to this total) go through the batch calls, unless the server says less. */
const BATCH_LIMIT = 2 << 20;
/** ByteStream chunk size: Bazel's default, well under gRPC's 4 MiB message limit. */
const CHUNK = 1 << 20;

export class GrpcCacheClient implements CacheTransport {
  readonly displayUrl: string;
  caProblem?: string;
  private readonly ac: Client<typeof ActionCache>;
  private readonly cas: Client<typeof ContentAddressableStorage>;
  private readonly bytestream: Client<typeof ByteStream>;
  private readonly capabilities: Client<typeof Capabilities>;
  private batchLimit?: Promise<number>;
  private readonly pendingReads: PendingRead[] = [];

  constructor(private readonly options: GrpcCacheOptions) {
    const url = new URL(options.url);
    if (url.protocol !== "grpc:" && url.protocol !== "grpcs:") throw new Error(`a gRPC cache URL starts with grpc:// or grpcs://, not ${url.protocol}//`);
    this.displayUrl = `${url.protocol}//${url.host}${options.instance ? ` (instance ${options.instance})` : ""}`;
    let ca: string[] | undefined;
    if (url.protocol === "grpcs:" && options.extraCaFile) {
      try {
        ca = [...process.getBuiltinModule("node:tls").rootCertificates, readFileSync(options.extraCaFile, "utf8")];
      } catch (error) {
        this.caProblem = `NODE_EXTRA_CA_CERTS names ${options.extraCaFile}, which could not be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): using the usual CAs only`;
      }
    }
    const interceptors: Interceptor[] = [];
    if (options.token) {
      const bearer = `Bearer ${options.token}`;
      interceptors.push((next) => (request) => {
        request.header.set("authorization", bearer);
        return next(request);
      });
    }
    const transport = createGrpcTransport({
      baseUrl: `${url.protocol === "grpcs:" ? "https" : "http"}://${url.host}`,
      interceptors,
      defaultTimeoutMs: options.timeoutMs,
      // gRPC-level compression of blobs that are mostly compressed data costs CPU for nothing.
      acceptCompression: [],
      ...(ca ? { nodeOptions: { ca } } : {}),
    });
    this.ac = createClient(ActionCache, transport);
    this.cas = createClient(ContentAddressableStorage, transport);
    this.bytestream = createClient(ByteStream, transport);
    this.capabilities = createClient(Capabilities, transport);
  }

  async getResult(key: string, keySize: number, maxBytes: number): Promise<Uint8Array | undefined> {
    try {
      const result = await this.ac.getActionResult({ instanceName: this.options.instance, actionDigest: digest(key, keySize), digestFunction: DigestFunction_Value.SHA256 });
      const encoded = toBinary(ActionResultSchema, result);
      if (encoded.length > maxBytes) throw new RemoteFault(`answered GetActionResult with more than ${maxBytes} bytes`);
      return encoded;
    } catch (error) {
      if (error instanceof ConnectError && error.code === Code.NotFound) return undefined;
      throw asFault(error, "GetActionResult");
    }
  }

  async putResult(key: string, keySize: number, encoded: Uint8Array): Promise<void> {
    try {
      await this.ac.updateActionResult({
        instanceName: this.options.instance,
        actionDigest: digest(key, keySize),
        actionResult: fromBinary(ActionResultSchema, encoded),
        digestFunction: DigestFunction_Value.SHA256,
      });
    } catch (error) {
      throw asFault(error, "UpdateActionResult");
    }
  }

  async findMissing(blobs: readonly BlobRef[]): Promise<Set<string>> {
    if (blobs.length === 0) return new Set();
    try {
      const response = await this.cas.findMissingBlobs({
        instanceName: this.options.instance,
        blobDigests: blobs.map((blob) => digest(blob.hash, blob.size)),
        digestFunction: DigestFunction_Value.SHA256,
      });
      return new Set(response.missingBlobDigests.map((missing) => missing.hash));
    } catch (error) {
      throw asFault(error, "FindMissingBlobs");
    }
  }

  async putBlob(blob: BlobRef, body: UploadBody): Promise<void> {
    if (blob.size <= (await this.limit())) {
      const data = "bytes" in body ? body.bytes : readFileSync(body.file);
      let response;
      try {
        response = await this.cas.batchUpdateBlobs({
          instanceName: this.options.instance,
          requests: [{ digest: digest(blob.hash, blob.size), data }],
          digestFunction: DigestFunction_Value.SHA256,
        });
      } catch (error) {
        throw asFault(error, "BatchUpdateBlobs");
      }
      const status = response.responses[0]?.status;
      // Code 0 is OK; anything else is the server refusing this one blob.
      if (status && status.code !== 0) {
        throw new RemoteFault(`refused blob ${blob.hash.slice(0, 12)} in BatchUpdateBlobs: ${codeName(status.code)} ${status.message}`);
      }
      return;
    }
    const resource = `${this.prefix()}uploads/${randomUUID()}/blobs/${blob.hash}/${blob.size}`;
    const chunks = async function* (): AsyncGenerator<WriteRequest> {
      if ("bytes" in body) {
        for (let offset = 0; offset < body.bytes.length || offset === 0; offset += CHUNK) {
          const end = Math.min(offset + CHUNK, body.bytes.length);
          yield create(WriteRequestSchema, { resourceName: offset === 0 ? resource : "", writeOffset: BigInt(offset), finishWrite: end === body.bytes.length, data: body.bytes.subarray(offset, end) });
          if (end === body.bytes.length) return;
        }
        return;
      }
      let offset = 0;
      for await (const chunk of createReadStream(body.file, { highWaterMark: CHUNK })) {
        const data = chunk as Buffer;
        const end = offset + data.length;
        yield create(WriteRequestSchema, { resourceName: offset === 0 ? resource : "", writeOffset: BigInt(offset), finishWrite: end === blob.size, data });
        offset = end;
      }
      if (offset !== blob.size) throw new Error(`${body.file} changed size while it was uploaded (${offset} bytes, not ${blob.size})`);
    };
    try {
      const response = await this.bytestream.write(chunks());
      // A server that already had the blob may end the stream early, committing the full size.
      if (response.committedSize !== BigInt(blob.size)) {
        throw new RemoteFault(`committed ${response.committedSize} of ${blob.size} bytes of blob ${blob.hash.slice(0, 12)} (ByteStream Write)`);
      }
    } catch (error) {
      throw asFault(error, "ByteStream Write");
    }
  }

  async download(hash: string, size: number | undefined, file: string, maxBytes: number): Promise<Download> {
    if (size === undefined) throw new Error("a gRPC download needs the blob's size");
    if (size > maxBytes) return { mismatch: `it is said to be ${size} bytes, over the ${maxBytes} allowed` };
    const limit = await this.limit();
    if (size <= limit) return this.readBatched({ hash, size, file }, limit);
    const hasher = createHash("sha256");
    let received = 0;
    const out = createWriteStream(file, { mode: 0o644 });
    try {
      for await (const chunk of this.bytestream.read({ resourceName: `${this.prefix()}blobs/${hash}/${size}` })) {
        received += chunk.data.length;
        if (received > size) {
          out.destroy();
          rmSync(file, { force: true });
          return { mismatch: `it is longer than ${size} bytes` };
        }
        hasher.update(chunk.data);
        if (!out.write(chunk.data)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
      }
      await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    } catch (error) {
      out.destroy();
      rmSync(file, { force: true });
      if (error instanceof ConnectError && error.code === Code.NotFound) return "missing";
      throw asFault(error, "ByteStream Read");
    }
    const actual = hasher.digest("hex");
    if (received !== size || actual !== hash) {
      rmSync(file, { force: true });
      return received !== size ? { mismatch: `it has ${received} bytes, not ${size}` } : { mismatch: `its content hashes to ${actual.slice(0, 12)}` };
    }
    return "ok";
  }

  /**
   * Small reads asked for in the same turn of the event loop (a result's outputs, log and
   * ingredients; other steps' lookups running beside it) go to the server as one BatchReadBlobs:
   * one round trip instead of one a blob, which made a gRPC restore 1.6x slower than HTTP's.
   */
  private readBatched(read: { hash: string; size: number; file: string }, limit: number): Promise<Download> {
    return new Promise((resolve, reject) => {
      this.pendingReads.push({ ...read, resolve, reject });
      if (this.pendingReads.length === 1) setImmediate(() => void this.flushReads(limit));
    });
  }

  private async flushReads(limit: number): Promise<void> {
    const reads = this.pendingReads.splice(0);
    const batches: PendingRead[][] = [];
    let total = Infinity;
    for (const read of reads) {
      if (total + read.size > limit) {
        batches.push([]);
        total = 0;
      }
      batches.at(-1)!.push(read);
      total += read.size;
    }
    await Promise.all(batches.map((batch) => this.readBatch(batch)));
  }

  private async readBatch(batch: PendingRead[]): Promise<void> {
    let response;
    try {
      const digests = [...new Map(batch.map((read) => [read.hash, digest(read.hash, read.size)])).values()];
      response = await this.cas.batchReadBlobs({ instanceName: this.options.instance, digests, digestFunction: DigestFunction_Value.SHA256 });
    } catch (error) {
      const fault = asFault(error, "BatchReadBlobs");
      for (const read of batch) read.reject(fault);
      return;
    }
    const byHash = new Map(response.responses.map((entry) => [entry.digest?.hash ?? "", entry]));
    // Written off the main thread, all at once: making a file costs 0.2-0.9 ms here (a new inode),
    // and written synchronously those were most of a restore's time.
    await Promise.all(
      batch.map(async (read) => {
        try {
          const entry = byHash.get(read.hash);
          if (!entry || entry.status?.code === Code.NotFound) return read.resolve("missing");
          if (entry.status && entry.status.code !== 0) {
            return read.reject(new RemoteFault(`answered BatchReadBlobs for ${read.hash.slice(0, 12)} with ${codeName(entry.status.code)} ${entry.status.message}`));
          }
          const mismatch = verify(entry.data, read.hash, read.size);
          if (mismatch) return read.resolve(mismatch);
          await writeFile(read.file, entry.data, { mode: 0o644 });
          read.resolve("ok");
        } catch (error) {
          read.reject(error);
        }
      }),
    );
  }

  close(): void {
    // connect-node's HTTP/2 sessions close themselves once idle; nothing keeps the process alive.
  }

  /** `{instance}/`, or nothing for the empty instance (REAPI drops the leading slash). */
  private prefix(): string {
    return this.options.instance ? `${this.options.instance}/` : "";
  }

  /** The batch limit: the server's max_batch_total_size_bytes (less a margin for framing) or ours. */
  private limit(): Promise<number> {
    this.batchLimit ??= this.capabilities
      .getCapabilities({ instanceName: this.options.instance })
      .then((capabilities) => {
        const cache = capabilities.cacheCapabilities;
        const functions = cache?.digestFunctions ?? [];
        if (functions.length > 0 && !functions.includes(DigestFunction_Value.SHA256)) {
          throw new RemoteFault("does not support SHA-256 digests (GetCapabilities), which kiln uses");
        }
        const server = Number(cache?.maxBatchTotalSizeBytes ?? 0n);
        return server > 0 ? Math.min(BATCH_LIMIT, server - 4096) : BATCH_LIMIT;
      })
      .catch((error: unknown) => {
        this.batchLimit = undefined;
        throw asFault(error, "GetCapabilities");
      });
    return this.batchLimit;
  }
}

interface PendingRead {
  hash: string;
  size: number;
  file: string;
  resolve: (outcome: Download) => void;
  reject: (error: unknown) => void;
}

function digest(hash: string, size: number): Digest {
  return { $typeName: "build.bazel.remote.execution.v2.Digest", hash, sizeBytes: BigInt(size) };
}

function verify(data: Uint8Array, hash: string, size: number): Download | undefined {
  if (data.length !== size) return { mismatch: `it has ${data.length} bytes, not ${size}` };
  const actual = createHash("sha256").update(data).digest("hex");
  return actual === hash ? undefined : { mismatch: `its content hashes to ${actual.slice(0, 12)}` };
}

function codeName(code: number): string {
  return Code[code] ?? `code ${code}`;
}

/** A gRPC or network error as one line. */
function asFault(error: unknown, what: string): RemoteFault {
  if (error instanceof RemoteFault) return error;
  if (error instanceof ConnectError) {
    if (error.code === Code.Unauthenticated || error.code === Code.PermissionDenied) {
      return new RemoteFault(`refused ${what} with ${codeName(error.code)} (check KILN_REMOTE_CACHE_TOKEN)`);
    }
    if (error.code === Code.DeadlineExceeded) return new RemoteFault(`did not answer ${what} in time`);
    const cause = error.cause as NodeJS.ErrnoException | undefined;
    if (cause?.code === "ECONNREFUSED") return new RemoteFault(`refused the connection (${what})`);
    if (cause?.code && /^ERR_(TLS|SSL)|CERT|UNABLE_TO|SELF_SIGNED/.test(cause.code)) {
      return new RemoteFault(`could not be verified over TLS: ${cause.message} (is its CA in NODE_EXTRA_CA_CERTS?)`);
    }
    return new RemoteFault(`answered ${what} with ${codeName(error.code)}: ${error.rawMessage}`);
  }
  return new RemoteFault(`failed ${what}: ${(error as Error)?.message ?? String(error)}`);
}
