/**
 * `kiln cache serve`: runs the cache server (src/cache/server/cache-server.ts) until Ctrl-C or
 * SIGTERM. Tokens come from options or the environment (KILN_CACHE_SERVE_TOKEN,
 * KILN_CACHE_SERVE_READ_TOKEN), and are never printed.
 */
import { resolve } from "node:path";
import { inputError } from "../errors.js";

export interface CacheServeOptions {
  port?: string;
  host?: string;
  dir?: string;
  token?: string;
  readToken?: string;
  maxSize?: string;
  maxBody?: string;
}

export async function runCacheServe(options: CacheServeOptions): Promise<number> {
  const { CacheServer, parseSize } = await import("../cache/server/cache-server.js");
  const port = Number(options.port ?? "8080");
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw inputError(`--port takes a port number (0-65535), not "${options.port}"`);
  if (!options.dir) throw inputError("kiln cache serve needs --dir <directory>: where the cache keeps its files");
  const size = (text: string | undefined, fallback: string, option: string) => {
    const bytes = parseSize(text ?? fallback);
    if (bytes === undefined || bytes <= 0) throw inputError(`${option} takes a size such as 50G, 500M or 1048576, not "${text}"`);
    return bytes;
  };
  const maxSize = size(options.maxSize, "50G", "--max-size");
  const maxBody = size(options.maxBody, "4G", "--max-body");
  const token = options.token ?? (process.env.KILN_CACHE_SERVE_TOKEN || undefined);
  const readToken = options.readToken ?? (process.env.KILN_CACHE_SERVE_READ_TOKEN || undefined);
  const server = new CacheServer({
    dir: resolve(options.dir),
    host: options.host ?? "127.0.0.1",
    port,
    token,
    readToken,
    maxSize,
    maxBody,
    log: (line) => process.stderr.write(`kiln cache serve: ${line}\n`),
  });
  const url = await server.listen();
  process.stderr.write(
    `kiln cache serve: listening on ${url} (dir ${resolve(options.dir)}, max size ${options.maxSize ?? "50G"}; ` +
      `uploads ${token ? "need the token" : "open to anyone who can connect"}; reads ${readToken ? "need a token" : "open"})\n`,
  );
  const signal = await new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once("SIGINT", () => resolveSignal("SIGINT"));
    process.once("SIGTERM", () => resolveSignal("SIGTERM"));
  });
  await server.close();
  process.stderr.write(`kiln cache serve: stopped (${signal})\n`);
  return 0;
}
