/**
 * `kiln graph`: the JSON form validated by a zod schema, DOT and Mermaid against golden files
 * (durations normalised), each node's last-build status across builds of different patterns.
 * The HTML page is tested in Chromium by graph-html.test.ts.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { cleanupTempDirs, makeWorkspace, removeTree, show, stackLines, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const GOLDEN = join(import.meta.dirname, "golden");
/** KILN_UPDATE_GOLDEN=1 rewrites the golden files from this run. */
function expectGolden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.KILN_UPDATE_GOLDEN === "1") writeFileSync(file, actual);
  expect(actual).toBe(readFileSync(file, "utf8"));
}

const graphSchema = z
  .object({
    format: z.literal("kiln.graph/1"),
    nodes: z.array(
      z
        .object({
          label: z.string().regex(/^\/\/[a-z/]*:[a-z]+$/),
          rule: z.string(),
          pkg: z.string(),
          name: z.string(),
          requested: z.boolean(),
          status: z.enum(["executed", "cached", "failed", "never built"]),
          ms: z.number().nonnegative().nullable(),
          outputs: z.array(z.string()),
          deps: z.array(z.string()),
          declared: z.string().regex(/^p\/BUILD\.ts:\d+$/),
        })
        .strict(),
    ),
    edges: z.array(z.object({ from: z.string(), to: z.string() }).strict()),
  })
  .strict();

const BUILD = `import { cmd } from "kiln";
export const a = cmd({ outs: ["a.txt"], cmd: "echo a > $OUT/a.txt" });
export const b = cmd({ srcs: { a: ":a" }, outs: ["b.txt"], cmd: "cat $SRCS > $OUT/b.txt" });
export const bad = cmd({ srcs: { a: ":a" }, outs: ["x"], cmd: "exit 3" });
export const never = cmd({ srcs: { b: ":b", bad: ":bad" }, outs: ["n"], cmd: "cat $SRCS > $OUT/n" });
`;

/** Durations differ run to run. */
const normalise = (text: string) => text.replace(/\d+\.\d\ds/g, "N.NNs");

describe("kiln graph", () => {
  it("prints the DAG as JSON, DOT and Mermaid with each target's last-build status", async () => {
    const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "p/BUILD.ts": BUILD });
    expect((await f.build(["//p:b"])).code).toBe(0);
    removeTree(join(f.ws, "kiln-out"));
    // a from the cache, bad fails; b keeps its status from the first build.
    const second = await f.build(["-k", "//p:a", "//p:bad"]);
    expect(second.code, show(second)).toBe(1);

    const json = await f.kiln(["graph", "--format", "json"]);
    expect(json.code, show(json)).toBe(0);
    const view = graphSchema.parse(JSON.parse(json.stdout));
    const status = Object.fromEntries(view.nodes.map((n) => [n.name, n.status]));
    expect(status).toEqual({ a: "cached", b: "executed", bad: "failed", never: "never built" });
    const byName = Object.fromEntries(view.nodes.map((n) => [n.name, n]));
    expect(byName.b!.outputs).toEqual(["kiln-out/p/b/b.txt"]);
    expect(byName.b!.ms).toBeGreaterThan(0);
    // A cache hit keeps the duration of the run it came from.
    expect(byName.a!.ms).toBeGreaterThan(0);
    expect(byName.never!.deps).toEqual(["//p:b", "//p:bad"]);
    expect(view.edges).toContainEqual({ from: "//p:a", to: "//p:b" });
    expect(view.edges).toHaveLength(4);

    const dot = await f.kiln(["graph", "//p:never"]);
    expect(dot.code, show(dot)).toBe(0);
    expectGolden("graph.dot", normalise(dot.stdout));
    const mermaid = await f.kiln(["graph", "//p:b", "--format", "mermaid"]);
    expect(mermaid.code, show(mermaid)).toBe(0);
    expectGolden("graph-b.mmd", normalise(mermaid.stdout));
  });

  it("refuses an unknown target, a pattern matching nothing and an unknown format with exit 2", async () => {
    const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "p/BUILD.ts": BUILD });
    for (const [args, message] of [
      [["graph", "//p:bb"], "no target //p:bb (did you mean //p:b?)"],
      [["graph", "//q/..."], "matches no targets"],
      [["graph", "--format", "png"], "argument 'png' is invalid"],
    ] as const) {
      const run = await f.kiln([...args]);
      expect(run.code, show(run)).toBe(2);
      expect(run.stderr).toContain(message);
      expect(stackLines(run.stderr)).toEqual([]);
    }
  });
});
