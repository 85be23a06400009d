/**
 * The npm packages behind a step's code files: a code file `node_modules/<name>/package.json`
 * (action-inputs.ts names them so, free of machine paths) is looked up in the workspace's
 * node_modules, then kiln's own; it is that package only when the file there has the digest the
 * build recorded. Its version comes from that package.json, its integrity from the
 * package-lock.json beside that node_modules.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { digestBytes } from "../key/digest.js";
import type { NpmPackage } from "./provenance.js";

interface Lockfile {
  packages?: Record<string, { version?: string; integrity?: string }>;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** `sha512-<base64>` (Subresource Integrity) as algorithm and hex, the form in-toto digests take. */
export function integrityDigest(integrity: string): { algorithm: string; hex: string } | undefined {
  const match = /^(sha256|sha384|sha512)-([A-Za-z0-9+/=]+)$/.exec(integrity.trim().split(/\s+/)[0] ?? "");
  if (!match) return undefined;
  return { algorithm: match[1]!, hex: Buffer.from(match[2]!, "base64").toString("hex") };
}

/** A lookup for provenance's MaterialContext.npmPackage, over the given roots (each holding node_modules/). */
export function npmPackageLookup(roots: readonly string[]): (path: string, digest: string) => NpmPackage | undefined {
  const lockfiles = new Map<string, Lockfile | undefined>();
  return (path, digest) => {
    for (const root of roots) {
      let bytes: Buffer;
      try {
        bytes = readFileSync(join(root, path));
      } catch {
        continue;
      }
      if (digestBytes(bytes) !== digest) continue;
      const manifest = JSON.parse(bytes.toString("utf8")) as { name?: string; version?: string };
      if (!manifest.name || !manifest.version) continue;
      if (!lockfiles.has(root)) lockfiles.set(root, readJson<Lockfile>(join(root, "package-lock.json")));
      const locked = lockfiles.get(root)?.packages?.[path.slice(0, -"/package.json".length)];
      const integrity = locked?.version === manifest.version && locked.integrity ? integrityDigest(locked.integrity) : undefined;
      return { name: manifest.name, version: manifest.version, ...(integrity ? { integrity } : {}) };
    }
    return undefined;
  };
}
