/** `kiln verify`: rebuilding without the cache finds steps whose outputs are not reproducible. */
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

describe("kiln verify", () => {
  it("reports a step that writes Date.now() (exit 1), passes the deterministic ones, and skips what depends on it", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "pkg/BUILD.ts": `import { cmd, step } from "kiln";
export const stamp = step({ srcs: {}, outs: ["t.json"], run: "./stamp.ts#stamp" });
export const seeded = step({ srcs: {}, outs: ["r.json"], run: "./stamp.ts#seeded" });
export const echo = cmd({ srcs: { i: "in.txt" }, outs: ["o.txt"], cmd: "cat pkg/in.txt > $OUT/o.txt" });
export const after = cmd({ srcs: { t: ":stamp" }, outs: ["a.txt"], cmd: "cat $SRCS > $OUT/a.txt" });
`,
      "pkg/in.txt": "same\n",
      "pkg/stamp.ts": `import { writeFileSync } from "node:fs";
type Ctx = { out(name: string): string; random(): number };
export function stamp(ctx: Ctx) { writeFileSync(ctx.out("t.json"), JSON.stringify({ builtAt: Date.now() + Math.random() })); }
export function seeded(ctx: Ctx) { writeFileSync(ctx.out("r.json"), JSON.stringify({ r: ctx.random() })); }
`,
    });
    const run = await f.kiln(["verify", "//..."]);
    expect(run.code, show(run)).toBe(1);
    expect(run.stdout).toMatch(/^DIFFERS {2}\/\/pkg:stamp: t\.json \(sha256 [0-9a-f]{12} then [0-9a-f]{12}\)$/m);
    expect(run.stdout).toMatch(/^same {5}\/\/pkg:seeded$/m);
    expect(run.stdout).toMatch(/^same {5}\/\/pkg:echo$/m);
    expect(run.stdout).toMatch(/^skipped {2}\/\/pkg:after: its inputs differed/m);
    expect(run.stdout).toContain("4 steps rebuilt without the cache, 3 compared, 1 differ");

    const clean = await f.kiln(["verify", "//pkg:echo", "//pkg:seeded"]);
    expect(clean.code, show(clean)).toBe(0);
    // The workspace's own outputs and cache are untouched by the rebuild.
    const again = await f.build(["//..."]);
    expect(again.executed).toEqual([]);
  });
});
