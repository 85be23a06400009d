/** `kiln query --output label|json|graph`, somepath and attr on a real workspace; a parse error points at its column, exit 2. */
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, show, stackLines, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const BUILD = `import { cmd } from "kiln";
export const raw = cmd({ outs: ["r"], cmd: "echo r > $OUT/r" });
export const clean = cmd({ srcs: { r: ":raw" }, outs: ["c"], tools: ["python3"], cmd: "cat $SRCS > $OUT/c" });
export const report = cmd({ srcs: { c: ":clean", r: ":raw" }, outs: ["rep"], env: { MODE: "fast" }, cmd: "cat $SRCS > $OUT/rep" });
`;

describe("kiln query", () => {
  const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "p/BUILD.ts": BUILD });

  it("prints labels, JSON or a DOT graph of the result", async () => {
    const labels = await f.kiln(["query", "somepath(//p:report, //p:raw)"]);
    expect(labels.code, show(labels)).toBe(0);
    expect(labels.stdout).toBe("//p:raw\n//p:report\n");
    const json = await f.kiln(["query", "deps(//p:report)", "--output", "json"]);
    expect(JSON.parse(json.stdout)).toEqual([
      { label: "//p:clean", rule: "cmd", deps: ["//p:raw"] },
      { label: "//p:raw", rule: "cmd", deps: [] },
      { label: "//p:report", rule: "cmd", deps: ["//p:clean", "//p:raw"] },
    ]);
    const graph = await f.kiln(["query", "allpaths(//p:report, //p:raw) - //p:clean", "--output", "graph"]);
    expect(graph.stdout).toBe(['digraph query {', "  rankdir=LR;", "  node [shape=box];", '  "//p:raw";', '  "//p:report";', '  "//p:raw" -> "//p:report";', "}", ""].join("\n"));
    expect((await f.kiln(["query", "attr(tools, python3, //...)"])).stdout).toBe("//p:clean\n");
    expect((await f.kiln(["query", "attr(env, '^MODE=fast$', //...)"])).stdout).toBe("//p:report\n");
  });

  it("points at the column of a parse error, exit 2", async () => {
    const run = await f.kiln(["query", "deps(//p:report,, 1)"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain("invalid query at column 17: expected a depth");
    expect(run.stderr).toContain("  deps(//p:report,, 1)\n                  ^");
    expect(stackLines(run.stderr)).toEqual([]);
    const output = await f.kiln(["query", "//...", "--output", "xml"]);
    expect(output.code).toBe(2);
    expect(output.stderr).toContain("argument 'xml' is invalid");
  });
});
