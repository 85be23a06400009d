/**
 * Where the running kiln is installed. BUILD.ts files and step modules import "kiln" and resolve
 * to this installation, so a workspace needs no package.json or node_modules of its own.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root: this file is dist/src/kiln-install.js (built) or src/kiln-install.ts (tests). */
export const KILN_ROOT = join(dirname(fileURLToPath(import.meta.url)), import.meta.url.includes("/dist/") ? "../.." : "..");
export const KILN_API_ENTRY = join(KILN_ROOT, "dist/src/api/index.js");
export const KILN_NODE_MODULES = join(KILN_ROOT, "node_modules");
export const KILN_VERSION: string = JSON.parse(readFileSync(join(KILN_ROOT, "package.json"), "utf8")).version;

/** A file of kiln's own built tree, for `kiln:<path>` references of built-in rules. */
export function kilnDistFile(relative: string): string {
  return join(KILN_ROOT, "dist", relative);
}
