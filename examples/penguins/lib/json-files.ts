/**
 * Reading and writing the JSON and JSONL files steps pass each other. Writers end every file with
 * a newline and never reorder keys, so the same values always give the same bytes (and the same
 * digest downstream, which is what lets kiln stop a rebuild early).
 */
import { readFile, writeFile } from "node:fs/promises";

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value, null, 2) + "\n");
}

export async function readJsonl<T>(path: string): Promise<T[]> {
  return parseJsonl<T>(await readFile(path, "utf8"));
}

export async function writeJsonl(path: string, rows: readonly unknown[]): Promise<void> {
  await writeFile(path, formatJsonl(rows));
}

export function parseJsonl<T>(text: string): T[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as T);
}

export function formatJsonl(rows: readonly unknown[]): string {
  return rows.map((row) => JSON.stringify(row) + "\n").join("");
}
