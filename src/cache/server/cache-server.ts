/**
 * `kiln cache serve`: a server of Bazel's HTTP cache protocol (GET/HEAD/PUT /cas/<sha256> and
 * /ac/<key>, 404 a miss), for kiln and Bazel alike. Blobs are files written to a temp name and
 * renamed into place (a reader never sees half a file; concurrent uploads of one key each rename
 * a complete file); an LMDB index keeps each entry's size and last access, and the least recently
 * used entries are removed once the total passes the maximum. Refused: keys that are not 64 hex
 * characters (no path can be named), CAS bodies that do not hash to their key, /ac/ bodies that
 * are not ActionResult protobufs (as bazel-remote does), bodies over the limit, and, with a token,
 * PUTs without it (and reads without the read token, if one is set).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { createHash, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { RootDatabase } from "lmdb";
import { ActionResultSchema } from "../remote/gen/build/bazel/remote/execution/v2/remote_execution_pb.js";

export interface CacheServerOptions {
  dir: string;
  host: string;
  port: number;
  /** Required (as a bearer token) to write. */
  token?: string;
  /** Required to read (the write token reads too). */
  readToken?: string;
  /** Bytes kept before the least recently used entries are removed. */
  maxSize: number;
  /** The largest body accepted. */
  maxBody: number;
  /** One line per notable event (start, eviction). */
  log: (line: string) => void;
}

interface Entry {
  size: number;
  /** Last write or read, ms since the epoch. */
  used: number;
}

const KEY = /^\/(ac|cas)\/([0-9a-f]{64})$/;
/** Accesses are written to LMDB at most this often per entry (a hot blob read 1000 times is one write); in between they are kept in memory. */
const TOUCH_INTERVAL_MS = 60_000;

export class CacheServer {
  private readonly server: Server;
  private readonly index: RootDatabase<Entry, string>;
  private total = 0;
  private tempCounter = 0;
  private readonly metrics = { hits: { ac: 0, cas: 0 }, misses: { ac: 0, cas: 0 }, bytesIn: 0, bytesOut: 0, evictions: 0, rejected: 0 };
  private evicting = false;
  /** Last use of entries read since their index record was written (which is throttled). */
  private readonly recentUse = new Map<string, number>();

  constructor(private readonly options: CacheServerOptions) {
    for (const sub of ["ac", "cas", "tmp"]) mkdirSync(join(options.dir, sub), { recursive: true });
    rmSync(join(options.dir, "tmp"), { recursive: true, force: true });
    mkdirSync(join(options.dir, "tmp"));
    const { open } = createRequire(import.meta.url)("lmdb") as typeof import("lmdb");
    this.index = open<Entry, string>({ path: join(options.dir, "index.lmdb"), compression: false });
    for (const { value } of this.index.getRange()) this.total += value.size;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500).end(`${(error as Error).message}\n`);
        else response.destroy();
      });
    });
  }

  listen(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.port, this.options.host, () => {
        const address = this.server.address() as { address: string; port: number };
        resolve(`http://${address.address.includes(":") ? `[${address.address}]` : address.address}:${address.port}`);
      });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await this.index.close();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = (request.url ?? "/").split("?")[0]!;
    if (url === "/healthz" && (request.method === "GET" || request.method === "HEAD")) {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (url === "/metrics" && request.method === "GET") {
      if (!this.authorized(request, "read")) return this.refuse(response, 401, "a read token is required");
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(this.metricsText());
      return;
    }
    const match = KEY.exec(url);
    if (!match) return this.refuse(response, 400, "expected /ac/<64 hex> or /cas/<64 hex>");
    const [, kind, key] = match as unknown as [string, "ac" | "cas", string];
    switch (request.method) {
      case "GET":
      case "HEAD":
        if (!this.authorized(request, "read")) return this.refuse(response, 401, "a read token is required");
        return this.read(kind, key, request.method === "HEAD", response);
      case "PUT":
        if (!this.authorized(request, "write")) return this.refuse(response, 401, "a write token is required to upload");
        return this.write(kind, key, request, response);
      default:
        response.writeHead(405, { allow: "GET, HEAD, PUT" }).end();
    }
  }

  private authorized(request: IncomingMessage, access: "read" | "write"): boolean {
    const tokens = access === "write" ? [this.options.token] : this.options.readToken ? [this.options.readToken, this.options.token] : [];
    if (access === "write" && !this.options.token) return true;
    if (access === "read" && !this.options.readToken) return true;
    const given = bearerOrPassword(request.headers.authorization);
    if (given === undefined) return false;
    return tokens.some((token) => token !== undefined && sameSecret(given, token));
  }

  private refuse(response: ServerResponse, status: number, message: string): void {
    this.metrics.rejected++;
    response.writeHead(status, { "content-type": "text/plain", connection: "close" }).end(`${message}\n`);
  }

  private path(kind: string, key: string): string {
    return join(this.options.dir, kind, key.slice(0, 2), key);
  }

  private read(kind: "ac" | "cas", key: string, headOnly: boolean, response: ServerResponse): void {
    const file = this.path(kind, key);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      this.metrics.misses[kind]++;
      response.writeHead(404).end();
      return;
    }
    this.metrics.hits[kind]++;
    this.touch(`${kind}/${key}`, size);
    response.writeHead(200, { "content-length": size, "content-type": "application/octet-stream" });
    if (headOnly) {
      response.end();
      return;
    }
    const stream = createReadStream(file, { highWaterMark: 1 << 20 });
    stream.on("data", (chunk) => (this.metrics.bytesOut += chunk.length));
    stream.on("error", () => response.destroy());
    stream.pipe(response);
  }

  private async write(kind: "ac" | "cas", key: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const declared = Number(request.headers["content-length"] ?? Number.NaN);
    if (declared > this.options.maxBody) {
      request.resume();
      return this.refuse(response, 413, `the body is over the limit of ${this.options.maxBody} bytes`);
    }
    const temp = join(this.options.dir, "tmp", `${process.pid}-${++this.tempCounter}`);
    const hasher = createHash("sha256");
    let size = 0;
    let tooLarge = false;
    const out = createWriteStream(temp);
    try {
      await new Promise<void>((resolve, reject) => {
        request.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.options.maxBody) {
            tooLarge = true;
            request.unpipe(out);
            request.pause();
            reject(new Error("too large"));
            return;
          }
          hasher.update(chunk);
        });
        request.on("error", reject);
        request.on("aborted", () => reject(new Error("aborted")));
        out.on("error", reject);
        out.on("finish", resolve);
        request.pipe(out);
      });
    } catch (error) {
      out.destroy();
      rmSync(temp, { force: true });
      if (tooLarge) return this.refuse(response, 413, `the body is over the limit of ${this.options.maxBody} bytes`);
      if (!response.destroyed) response.destroy();
      void error;
      return;
    }
    if (kind === "cas" && hasher.digest("hex") !== key) {
      rmSync(temp, { force: true });
      return this.refuse(response, 400, "the body does not hash to its key (SHA-256)");
    }
    if (kind === "ac") {
      try {
        fromBinary(ActionResultSchema, readFileSync(temp));
      } catch {
        rmSync(temp, { force: true });
        return this.refuse(response, 400, "an /ac/ entry must be a build.bazel.remote.execution.v2.ActionResult protobuf");
      }
    }
    this.metrics.bytesIn += size;
    const final = this.path(kind, key);
    mkdirSync(join(this.options.dir, kind, key.slice(0, 2)), { recursive: true });
    const previous = this.index.get(`${kind}/${key}`);
    renameSync(temp, final);
    this.total += size - (previous?.size ?? 0);
    await this.index.put(`${kind}/${key}`, { size, used: Date.now() });
    response.writeHead(previous ? 204 : 201).end();
    if (this.total > this.options.maxSize) await this.evict();
  }

  private touch(name: string, size: number): void {
    const entry = this.index.get(name);
    const now = Date.now();
    this.recentUse.set(name, now);
    if (entry && now - entry.used < TOUCH_INTERVAL_MS) return;
    if (!entry) this.total += size;
    void this.index.put(name, { size, used: now });
  }

  /** Removes least recently used entries until the total is 90% of the maximum. */
  private async evict(): Promise<void> {
    if (this.evicting) return;
    this.evicting = true;
    try {
      const target = this.options.maxSize * 0.9;
      const entries = [...this.index.getRange()].map(({ key, value }) => ({ name: key, size: value.size, used: Math.max(value.used, this.recentUse.get(key) ?? 0) }));
      entries.sort((a, b) => a.used - b.used);
      let removed = 0;
      for (const entry of entries) {
        if (this.total <= target) break;
        const [kind, key] = entry.name.split("/") as [string, string];
        rmSync(this.path(kind, key), { force: true });
        await this.index.remove(entry.name);
        this.recentUse.delete(entry.name);
        this.total -= entry.size;
        removed++;
      }
      this.metrics.evictions += removed;
      if (removed > 0) this.options.log(`evicted ${removed} least recently used entr${removed === 1 ? "y" : "ies"}; ${this.total} bytes kept`);
    } finally {
      this.evicting = false;
    }
  }

  private metricsText(): string {
    const m = this.metrics;
    const lines = [
      "# HELP kiln_cache_hits_total Reads answered from the cache.",
      "# TYPE kiln_cache_hits_total counter",
      `kiln_cache_hits_total{kind="ac"} ${m.hits.ac}`,
      `kiln_cache_hits_total{kind="cas"} ${m.hits.cas}`,
      "# HELP kiln_cache_misses_total Reads of entries the cache does not hold (404).",
      "# TYPE kiln_cache_misses_total counter",
      `kiln_cache_misses_total{kind="ac"} ${m.misses.ac}`,
      `kiln_cache_misses_total{kind="cas"} ${m.misses.cas}`,
      "# HELP kiln_cache_bytes_in_total Bytes of accepted uploads.",
      "# TYPE kiln_cache_bytes_in_total counter",
      `kiln_cache_bytes_in_total ${m.bytesIn}`,
      "# HELP kiln_cache_bytes_out_total Bytes sent in answers to reads.",
      "# TYPE kiln_cache_bytes_out_total counter",
      `kiln_cache_bytes_out_total ${m.bytesOut}`,
      "# HELP kiln_cache_evictions_total Entries removed to stay under the maximum size.",
      "# TYPE kiln_cache_evictions_total counter",
      `kiln_cache_evictions_total ${m.evictions}`,
      "# HELP kiln_cache_rejected_total Requests refused (bad key, bad body, no token, too large).",
      "# TYPE kiln_cache_rejected_total counter",
      `kiln_cache_rejected_total ${m.rejected}`,
      "# HELP kiln_cache_size_bytes Bytes held.",
      "# TYPE kiln_cache_size_bytes gauge",
      `kiln_cache_size_bytes ${this.total}`,
    ];
    return `${lines.join("\n")}\n`;
  }
}

/** The secret of `Authorization: Bearer <t>`, or the password of `Basic` (Bazel's --remote_cache=http://user:pass@...). */
function bearerOrPassword(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(" ", 2);
  if (!value) return undefined;
  if (scheme!.toLowerCase() === "bearer") return value.trim();
  if (scheme!.toLowerCase() === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

export { parseSize } from "../../byte-size.js";
