/**
 * graph/ and the key record are pure: data in, data out, no I/O. This keeps them so: a module
 * there that imports node:fs (or anything that does, transitively through the project) fails
 * here, naming the chain.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = dirname(fileURLToPath(import.meta.url));
/** Node modules that do I/O or start processes. */
const IO_MODULES = /^(node:)?(fs|fs\/promises|child_process|net|http|https|http2|dgram|worker_threads|cluster)$/;

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specifiers: string[] = [];
  // Type-only imports vanish at runtime: they are not I/O.
  for (const match of text.matchAll(/^import\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)) if (!match[1]) specifiers.push(match[2]!);
  for (const match of text.matchAll(/\bimport\("([^"]+)"\)/g)) specifiers.push(match[1]!);
  return specifiers;
}

/** The first chain from `file` to an I/O module, or undefined. */
function ioChain(file: string, seen = new Set<string>()): string[] | undefined {
  if (seen.has(file)) return undefined;
  seen.add(file);
  for (const specifier of importsOf(file)) {
    if (IO_MODULES.test(specifier)) return [file, specifier];
    if (!specifier.startsWith(".")) continue;
    const next = resolve(dirname(file), specifier.replace(/\.js$/, ".ts"));
    const chain = ioChain(next, seen);
    if (chain) return [file, ...chain];
  }
  return undefined;
}

const pureModules = [
  ...readdirSync(join(SRC, "graph"))
    .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))
    .map((name) => join(SRC, "graph", name)),
  join(SRC, "key/action-key.ts"),
  join(SRC, "key/canonical.ts"),
  join(SRC, "exec/scheduler.ts"),
  join(SRC, "cache/chunked-pairs.ts"),
];

describe("pure modules", () => {
  it.each(pureModules.map((file) => [file.slice(SRC.length + 1), file]))("%s imports no I/O", (_name, file) => {
    const chain = ioChain(file);
    expect(chain?.map((f) => (f.startsWith(SRC) ? f.slice(SRC.length + 1) : f)).join(" -> ")).toBeUndefined();
  });
});
