/**
 * A client of Bazel's HTTP cache protocol (what bazel-remote, nginx with WebDAV and
 * `kiln cache serve` speak): `GET/HEAD/PUT <base>/cas/<sha256>` and `<base>/ac/<key>`, 404 a miss.
 * It owns the wire and nothing else: keep-alive connections, credentials (a bearer token, or basic
 * auth from the URL's userinfo; neither ever appears in a message), the company CA, timeouts, and
 * SHA-256 verification of every blob while it streams to disk. Anything the server or the network
 * does wrong is thrown as a RemoteFault with one line saying what; the caller decides what it means.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, readFileSync, rmSync } from "node:fs";
import type { Agent, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

import { RemoteFault, type BlobRef, type CacheTransport, type Download, type UploadBody } from "./cache-transport.js";

export interface HttpCacheOptions {
  /** The base URL; userinfo, if any, becomes basic auth. */
  url: string;
  /** Sent as `Authorization: Bearer`. */
  token?: string;
  /** A PEM file of extra CA certificates (NODE_EXTRA_CA_CERTS), for https. */
  extraCaFile?: string;
  /** A request whose connection is idle this long fails. */
  timeoutMs: number;
  /** Connections kept per host. */
  maxSockets: number;
}

export class HttpCacheClient implements CacheTransport {
  /** The base URL without credentials: the only form of it ever shown. */
  readonly displayUrl: string;
  /** Why the extra CA file was not used, if it was named but unreadable. */
  caProblem?: string;
  private readonly base: URL;
  private readonly authorization?: string;
  private readonly agent: Agent;
  private readonly send: typeof import("node:http").request;

  constructor(private readonly options: HttpCacheOptions) {
    const url = new URL(options.url);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`the remote cache URL must start with http:// or https://, not ${url.protocol}//`);
    if (url.username || url.password) {
      this.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
      url.username = "";
      url.password = "";
    }
    if (options.token) this.authorization = `Bearer ${options.token}`;
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    this.base = url;
    this.displayUrl = url.href.replace(/\/$/, "");
    if (url.protocol === "https:") {
      const https = process.getBuiltinModule("node:https");
      const tls = process.getBuiltinModule("node:tls");
      // Node reads NODE_EXTRA_CA_CERTS only at start, and bin/kiln.cjs hides it then: read it here.
      let ca: string[] | undefined;
      if (options.extraCaFile) {
        try {
          ca = [...tls.rootCertificates, readFileSync(options.extraCaFile, "utf8")];
        } catch (error) {
          // As Node does with an unreadable NODE_EXTRA_CA_CERTS: say so, go on with the usual CAs.
          this.caProblem = `NODE_EXTRA_CA_CERTS names ${options.extraCaFile}, which could not be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): using the usual CAs only`;
        }
      }
      this.agent = new https.Agent({ keepAlive: true, maxSockets: options.maxSockets, ca });
      this.send = https.request;
    } else {
      const http = process.getBuiltinModule("node:http");
      this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
      this.send = http.request;
    }
  }

  getResult(key: string, _keySize: number, maxBytes: number): Promise<Uint8Array | undefined> {
    return this.get(`ac/${key}`, maxBytes);
  }

  putResult(key: string, _keySize: number, encoded: Uint8Array): Promise<void> {
    return this.put(`ac/${key}`, { bytes: encoded });
  }

  /** HEAD each: Bazel's HTTP protocol has no batch call. */
  async findMissing(blobs: readonly BlobRef[]): Promise<Set<string>> {
    const missing = new Set<string>();
    for (const blob of blobs) if (!(await this.has(`cas/${blob.hash}`))) missing.add(blob.hash);
    return missing;
  }

  putBlob(blob: BlobRef, body: UploadBody): Promise<void> {
    return this.put(`cas/${blob.hash}`, body);
  }

  /** A small entry (an `/ac/` result) whole, or undefined on 404. */
  private async get(path: string, maxBytes: number): Promise<Buffer | undefined> {
    const response = await this.request("GET", path);
    if (response.statusCode === 404) return drain(response, undefined);
    this.check(response, "GET", path);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) {
          response.destroy();
          throw new RemoteFault(`answered GET ${path} with more than ${maxBytes} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      throw asFault(error, `GET ${path}`);
    }
    if (!response.complete) throw new RemoteFault(`closed the connection in the middle of GET ${path}`);
    return Buffer.concat(chunks);
  }

  /**
   * Streams `/cas/<hash>` into `file`, hashing as it goes: "ok" when the bytes are exactly the
   * digest's (the file is then complete), "missing" on 404, a mismatch otherwise (the file is
   * removed). `size` undefined: any size up to `maxBytes`.
   */
  async download(hash: string, size: number | undefined, file: string, maxBytes: number): Promise<Download> {
    const path = `cas/${hash}`;
    const response = await this.request("GET", path);
    if (response.statusCode === 404) return drain(response, "missing");
    this.check(response, "GET", path);
    const limit = size ?? maxBytes;
    const hasher = createHash("sha256");
    let received = 0;
    let tooLong = false;
    const verify = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (received > limit) {
          tooLong = true;
          callback(new Error("too long"));
          return;
        }
        hasher.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(response, verify, createWriteStream(file, { mode: 0o644 }));
    } catch (error) {
      rmSync(file, { force: true });
      if (tooLong) {
        response.destroy();
        return { mismatch: `it is longer than ${limit} bytes` };
      }
      throw asFault(error, `GET ${path}`);
    }
    if (!response.complete) {
      rmSync(file, { force: true });
      throw new RemoteFault(`closed the connection in the middle of GET ${path}`);
    }
    const actual = hasher.digest("hex");
    if (size !== undefined && received !== size) {
      rmSync(file, { force: true });
      return { mismatch: `it has ${received} bytes, not ${size}` };
    }
    if (actual !== hash) {
      rmSync(file, { force: true });
      return { mismatch: `its content hashes to ${actual.slice(0, 12)}` };
    }
    return "ok";
  }

  /** True if the server has the entry. */
  private async has(path: string): Promise<boolean> {
    const response = await this.request("HEAD", path);
    if (response.statusCode === 404) return drain(response, false);
    this.check(response, "HEAD", path);
    return drain(response, true);
  }

  /** Uploads bytes, or a file streamed from disk (never whole in memory). */
  private async put(path: string, body: UploadBody): Promise<void> {
    const size = "bytes" in body ? body.bytes.length : body.size;
    const response = await this.request("PUT", path, body, { "content-length": size, "content-type": "application/octet-stream" });
    this.check(response, "PUT", path);
    await drain(response, undefined);
  }

  close(): void {
    this.agent.destroy();
  }

  private check(response: IncomingMessage, method: string, path: string): void {
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) return;
    response.resume();
    if (status === 401 || status === 403) {
      throw new RemoteFault(`refused ${method} ${path} with HTTP ${status} (check KILN_REMOTE_CACHE_TOKEN or the URL's user and password)`);
    }
    throw new RemoteFault(`answered ${method} ${path} with HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ""}`);
  }

  private request(
    method: string,
    path: string,
    body?: UploadBody,
    extraHeaders: OutgoingHttpHeaders = {},
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.base);
    const headers: OutgoingHttpHeaders = { ...extraHeaders };
    if (this.authorization) headers.authorization = this.authorization;
    return new Promise((resolve, reject) => {
      const request = this.send(url, { method, headers, agent: this.agent }, resolve);
      request.setTimeout(this.options.timeoutMs, () =>
        request.destroy(new RemoteFault(`did not answer ${method} ${path} within ${this.options.timeoutMs / 1000} s`)),
      );
      request.on("error", (error) => reject(asFault(error, `${method} ${path}`)));
      if (!body) request.end();
      else if ("bytes" in body) request.end(body.bytes);
      else {
        const stream = createReadStream(body.file, { highWaterMark: 1 << 20 });
        stream.on("error", (error) => request.destroy(error));
        stream.pipe(request);
      }
    });
  }
}

function drain<T>(response: IncomingMessage, value: T): Promise<T> {
  return new Promise((resolve) => {
    response.on("end", () => resolve(value)).on("error", () => resolve(value)).on("close", () => resolve(value));
    response.resume();
  });
}

/** A network error as one line. */
function asFault(error: unknown, what: string): RemoteFault {
  if (error instanceof RemoteFault) return error;
  const failure = error as NodeJS.ErrnoException;
  const reasons: Record<string, string> = {
    ECONNREFUSED: "refused the connection",
    ECONNRESET: "reset the connection",
    ENOTFOUND: "could not be found (DNS)",
    EHOSTUNREACH: "is unreachable",
    ETIMEDOUT: "timed out",
    EPIPE: "closed the connection",
  };
  if (failure?.code && reasons[failure.code]) return new RemoteFault(`${reasons[failure.code]} (${what})`);
  if (failure?.message === "aborted") return new RemoteFault(`closed the connection in the middle of ${what}`);
  if (failure?.code && /^ERR_(TLS|SSL)|CERT|UNABLE_TO|SELF_SIGNED/.test(failure.code)) {
    return new RemoteFault(`could not be verified over TLS: ${failure.message} (is its CA in NODE_EXTRA_CA_CERTS?)`);
  }
  return new RemoteFault(`failed ${what}: ${failure?.message ?? String(error)}`);
}
