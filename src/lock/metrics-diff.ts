/**
 * What changed between two versions of a metrics file (JSON a step declared in `metrics`), as DVC's
 * `metrics diff` shows it: every leaf by its dotted path (array items by index), old and new
 * value, and for numbers the change. Pure: parsed JSON in, lines out.
 */
import type { Json } from "../api/action-spec.js";

/** Every leaf of `value` by dotted path; `{}` and `[]` count as leaves so that they are seen. */
export function flattenMetrics(value: Json, prefix = "", into = new Map<string, Json>()): Map<string, Json> {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
    if (entries.length === 0) into.set(prefix, value);
    for (const [key, child] of entries) flattenMetrics(child, prefix === "" ? key : `${prefix}.${key}`, into);
  } else into.set(prefix, value);
  return into;
}

/** A number as a diff shows it: at most 6 significant digits past what the value carries. */
function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)));
}

function formatValue(value: Json | undefined): string {
  if (value === undefined) return "-";
  return typeof value === "number" ? formatNumber(value) : JSON.stringify(value);
}

/**
 * One line per metric that differs in `file` (added, removed, or changed), sorted by path;
 * `undefined` for a side means the file is not there.
 */
export function diffMetrics(file: string, before: Json | undefined, after: Json | undefined): string[] {
  if (before === undefined && after === undefined) return [];
  const a = before === undefined ? new Map<string, Json>() : flattenMetrics(before);
  const b = after === undefined ? new Map<string, Json>() : flattenMetrics(after);
  const lines: string[] = [];
  for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(path);
    const y = b.get(path);
    if (x !== undefined && y !== undefined && JSON.stringify(x) === JSON.stringify(y)) continue;
    const change = typeof x === "number" && typeof y === "number" ? ` (${y - x >= 0 ? "+" : ""}${formatNumber(y - x)})` : "";
    lines.push(`metric ${file} ${path === "" ? "(value)" : path}: ${formatValue(x)} -> ${formatValue(y)}${change}`);
  }
  return lines;
}
