/**
 * Sizes and ages as people type them on a command line ("10G", "500M", "30d", "12h") and as kiln
 * prints them. Binary units throughout, as `du -h` and Bazel's disk-cache flags use.
 */

const SIZE_UNITS: Record<string, number> = { "": 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** "50G", "500M", "1T", "1024", "1.5GiB": bytes; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? "").toUpperCase().charAt(0);
  return Math.floor(Number(match[1]) * SIZE_UNITS[unit]!);
}

/** 1536 -> "1.5 KiB": for people, never parsed back. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** "30d", "12h", "90m", "45s", "2w", "0s": milliseconds; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([smhdw])$/i.exec(text.trim());
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * DURATION_UNITS[match[2]!.toLowerCase()]!);
}

/** The local cache's cap as WORKSPACE.ts or KILN_CACHE_MAX_SIZE give it: bytes, null for "off". */
export function parseCacheCap(text: string): number | null | undefined {
  if (/^\s*(off|none|unlimited)\s*$/i.test(text)) return null;
  const bytes = parseSize(text);
  return bytes === undefined || bytes <= 0 ? undefined : bytes;
}
