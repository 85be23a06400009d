/**
 * Small state files are replaced atomically (write a unique temp file, then rename), so a crash
 * or a concurrent kiln leaves either the old file or the new one, never half of one.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

let counter = 0;

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${++counter}.tmp`;
  writeFileSync(temp, data);
  renameSync(temp, path);
}

/** The parsed JSON in `path`, or undefined when it is missing or unreadable (state is a cache). */
export function readJsonFile<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}
