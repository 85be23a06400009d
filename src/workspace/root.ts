/** Finding the workspace root: the nearest directory upward holding WORKSPACE.ts. */
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { inputError } from "../errors.js";

export const WORKSPACE_FILE = "WORKSPACE.ts";
export const BUILD_FILE = "BUILD.ts";
/** Where outputs land, under the root. */
export const OUTPUT_DIR = "kiln-out";
/**
 * Per-workspace state under the root (graph, stat cache, sandboxes, temp files): on the same file
 * system as kiln-out, so sandboxes can hard-link and outputs arrive by rename.
 */
export const STATE_DIR = ".kiln";

export function findWorkspaceRoot(start: string, explicit?: string): string {
  if (explicit !== undefined) {
    const dir = resolve(start, explicit);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw inputError(`--workspace ${explicit}: no such directory`);
    if (!existsSync(join(dir, WORKSPACE_FILE))) {
      throw inputError(`--workspace ${explicit}: ${dir} has no ${WORKSPACE_FILE} (a workspace root holds one)`);
    }
    return dir;
  }
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, WORKSPACE_FILE))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw inputError(
        `no ${WORKSPACE_FILE} found in ${resolve(start)} or any directory above it; create one ` +
          `(export default workspace({ name: "my-pipeline" })) or pass -C <dir>`,
      );
    }
    dir = parent;
  }
}
