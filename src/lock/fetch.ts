/**
 * Downloads one URL to a file, for url sources: follows redirects, retries transient failures
 * (connection errors, a body cut short, 408, 429, 5xx) with backoff, and resumes a partial file
 * with a Range request where the server allows it (else starts over). The caller verifies the
 * whole file against its pin before using any of it.
 */
import { createWriteStream, existsSync, readFileSync, rmSync, statSync } from "node:fs";
import type { IncomingMessage } from "node:http";

const ATTEMPTS = 5;
const FIRST_DELAY_MS = 200;
const MAX_REDIRECTS = 5;

class Transient extends Error {}

/** TLS clients must add NODE_EXTRA_CA_CERTS themselves (bin/kiln.cjs hides it from Node's start). */
let extraCa: string[] | undefined;
function certificateAuthorities(tls: typeof import("node:tls")): string[] | undefined {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return undefined;
  try {
    extraCa ??= [...tls.rootCertificates, readFileSync(file, "utf8")];
  } catch {
    return undefined;
  }
  return extraCa;
}

async function get(url: string, headers: Record<string, string>): Promise<IncomingMessage> {
  const parsed = new URL(url);
  const client = parsed.protocol === "https:" ? await import("node:https") : await import("node:http");
  const ca = parsed.protocol === "https:" ? certificateAuthorities(await import("node:tls")) : undefined;
  return new Promise((resolvePromise, reject) => {
    const request = client.get(url, { headers, timeout: 30_000, ...(ca ? { ca } : {}) }, resolvePromise);
    request.on("timeout", () => request.destroy(new Transient("no response for 30 s")));
    request.on("error", (error) => reject(error instanceof Transient ? error : new Transient(error.message)));
  });
}

/** One attempt: appends to `file` when the server honours the Range, else rewrites it. */
async function attempt(url: string, file: string): Promise<void> {
  let target = url;
  for (let redirects = 0; ; redirects++) {
    const have = existsSync(file) ? statSync(file).size : 0;
    const response = await get(target, have > 0 ? { range: `bytes=${have}-` } : {});
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && response.headers.location) {
      response.resume();
      if (redirects >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
      target = new URL(response.headers.location, target).href;
      continue;
    }
    if (status === 416 && have > 0) {
      // The partial file is already whole (or longer than the resource): start over to be sure.
      response.resume();
      rmSync(file, { force: true });
      continue;
    }
    if (status === 408 || status === 429 || status >= 500) {
      response.resume();
      throw new Transient(`HTTP ${status}`);
    }
    if (status !== 200 && status !== 206) {
      response.resume();
      throw new Error(`HTTP ${status} ${response.statusMessage ?? ""}`.trim());
    }
    const append = status === 206 && have > 0;
    const expected = Number(response.headers["content-length"] ?? NaN);
    await new Promise<void>((resolvePromise, reject) => {
      const out = createWriteStream(file, { flags: append ? "a" : "w" });
      let received = 0;
      response.on("data", (chunk: Buffer) => (received += chunk.length));
      response.on("aborted", () => out.destroy(new Transient("connection closed mid-download")));
      response.on("error", (error) => out.destroy(new Transient(error.message)));
      out.on("error", reject);
      out.on("finish", () => {
        if (Number.isFinite(expected) && received < expected) reject(new Transient(`connection closed after ${received} of ${expected} bytes`));
        else resolvePromise();
      });
      response.pipe(out);
    });
    return;
  }
}

/** Downloads `url` into `file` (resuming what is there), retrying transient failures. */
export async function fetchToFile(url: string, file: string, warn: (message: string) => void): Promise<void> {
  for (let n = 1; ; n++) {
    try {
      await attempt(url, file);
      return;
    } catch (error) {
      if (!(error instanceof Transient) || n >= ATTEMPTS) throw error;
      const delay = FIRST_DELAY_MS * 2 ** (n - 1);
      warn(`downloading ${url}: ${error.message}; retrying in ${delay} ms (attempt ${n + 1} of ${ATTEMPTS})`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
