import { describe, expect, it } from "vitest";
import { describeDrift, diffLock, formatLockFile, type LockEntry } from "./lockfile.js";

const entry = (sha: string, extra: Partial<LockEntry> = {}): LockEntry => ({ kind: "path", location: "d", sha256: sha.repeat(64), size: 3, ...extra });

describe("kiln.lock", () => {
  it("is formatted with sorted keys whatever the insertion order, ending in a newline", () => {
    const a = formatLockFile({ z: entry("a"), b: { size: 1, sha256: "b".repeat(64), location: "u", kind: "url" } });
    const b = formatLockFile({ b: { kind: "url", location: "u", sha256: "b".repeat(64), size: 1 }, z: entry("a") });
    expect(a).toBe(b);
    expect(a.indexOf('"b"')).toBeLessThan(a.indexOf('"z"'));
    expect(a.indexOf('"kind"')).toBeLessThan(a.indexOf('"location"'));
    expect(a.endsWith("}\n")).toBe(true);
  });

  it("diff names added, removed and changed sources, sorted", () => {
    const drift = diffLock({ a: entry("1"), b: entry("2"), c: entry("3") }, { a: entry("1"), c: entry("4"), d: entry("5") });
    expect(drift.map((d) => [d.name, d.change])).toEqual([
      ["b", "removed"],
      ["c", "changed"],
      ["d", "added"],
    ]);
    const changed = describeDrift(drift[1]!);
    expect(changed).toContain(`locked: path d sha256 ${"3".repeat(64)}`);
    expect(changed).toContain(`now:    path d sha256 ${"4".repeat(64)}`);
  });

  it("a file count or location change is drift too", () => {
    expect(diffLock({ a: entry("1", { files: 2 }) }, { a: entry("1", { files: 3 }) })).toHaveLength(1);
    expect(diffLock({ a: entry("1") }, { a: entry("1", { location: "e" }) })).toHaveLength(1);
  });
});
