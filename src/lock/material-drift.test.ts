import { describe, expect, it } from "vitest";
import { describeDrift, findDrift, materialCheckOf, uncheckedReason } from "./material-drift.js";

const h = (c: string) => c.repeat(64);

describe("material drift", () => {
  it("re-hashes workspace files, path sources and npm manifests; not url sources, tools, kiln's code or git", () => {
    expect(materialCheckOf({ name: "m/train.ts", digest: { sha256: h("a") }, annotations: { kind: "code" } })).toEqual({ name: "m/train.ts", path: "m/train.ts", sha256: h("a"), kind: "file" });
    expect(materialCheckOf({ name: "@t", digest: { sha256: h("b") }, annotations: { kind: "path", location: "data/t", digestOf: "listing" } })).toEqual({ name: "@t", path: "data/t", sha256: h("b"), kind: "directory" });
    expect(materialCheckOf({ name: "pkg:npm/zod@4.0.0", digest: { sha512: "ab" }, annotations: { kind: "npm", packageJson: { path: "node_modules/zod/package.json", sha256: h("c") } } })).toMatchObject({ path: "node_modules/zod/package.json", sha256: h("c"), kind: "npm" });
    expect(materialCheckOf({ name: "@u", uri: "https://x/u", digest: { sha256: h("d") }, annotations: { kind: "url" } })).toBeUndefined();
    expect(uncheckedReason({ name: "tool:python3", uri: "pkg:generic/python3", annotations: { kind: "tool" } })).toContain("tool");
    expect(uncheckedReason({ name: "kiln:dist/x.js", digest: { sha256: h("e") } })).toContain("kiln's own");
  });

  it("lists each material whose digest differs or that is gone, with both digests", async () => {
    const checks = [
      { name: "@t", path: "data/t.json", sha256: h("1"), kind: "file" as const },
      { name: "a.ts", path: "a.ts", sha256: h("2"), kind: "file" as const },
      { name: "b.ts", path: "b.ts", sha256: h("3"), kind: "file" as const },
    ];
    const now: Record<string, string | undefined> = { "data/t.json": h("9"), "a.ts": h("2"), "b.ts": undefined };
    const drift = await findDrift(checks, async (c) => now[c.path]);
    expect(drift.map((d) => d.name)).toEqual(["@t", "b.ts"]);
    expect(describeDrift(drift[0]!)).toBe(`@t (data/t.json)\n    statement sha256 ${h("1")}\n    on disk   sha256 ${h("9")}`);
    expect(describeDrift(drift[1]!)).toBe(`b.ts: gone (statement sha256 ${h("3")})`);
  });
});
