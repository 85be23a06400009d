/**
 * Where the running kiln is installed. BUILD.ts files and step modules import "kiln" and resolve
 * to this installation, so a workspace needs no package.json or node_modules of its own.
 */
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The package root. This code runs from the CLI bundle (dist/cli/), from the tree tsc emits
 * (dist/src/, which the api entry uses) or from src/ (tests): two levels up from a directory in
 * dist/, else one.
 */
const HERE = dirname(fileURLToPath(import.meta.url));
export const KILN_ROOT = join(HERE, basename(dirname(HERE)) === "dist" ? "../.." : "..");
export const KILN_API_ENTRY = join(KILN_ROOT, "dist/src/api/index.js");
export const KILN_NODE_MODULES = join(KILN_ROOT, "node_modules");
export const KILN_VERSION: string = JSON.parse(readFileSync(join(KILN_ROOT, "package.json"), "utf8")).version;

/** A file of kiln's own built tree, for `kiln:<path>` references of built-in rules. */
export function kilnDistFile(relative: string): string {
  return join(KILN_ROOT, "dist", relative);
}
