/**
 * `kiln build --profile` writes Chrome trace-event JSON (validated here by a zod schema of the
 * format) with one slice per executed step on a job lane, and slices for loading, analysis, keys,
 * lookups and hashing a large file; `kiln analyze-profile` prints the critical path and slowest steps.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { traceFileSchema } from "../../src/profile/trace-schema.js";
import { cleanupTempDirs, makeWorkspace, show, stackLines, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const BUILD = `import { cmd } from "kiln";
export const a = cmd({ srcs: { big: "big.bin" }, outs: ["o"], cmd: "sleep 0.3; wc -c < $SRCS > $OUT/o" });
export const b = cmd({ srcs: { a: ":a" }, outs: ["o"], cmd: "sleep 0.2; cat $SRCS > $OUT/o" });
export const c = cmd({ srcs: { a: ":a" }, outs: ["o"], cmd: "cat $SRCS > $OUT/o" });
export const d = cmd({ srcs: { b: ":b", c: ":c" }, outs: ["o"], cmd: "cat $SRCS > $OUT/o" });
`;

function readTrace(file: string) {
  return traceFileSchema.parse(JSON.parse(readFileSync(file, "utf8")));
}

describe("kiln build --profile", () => {
  it("writes a trace-event file: a slice per executed step on a job lane, and the build's phases", async () => {
    const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "p/BUILD.ts": BUILD, "p/big.bin": "x".repeat(3 * 1024 * 1024) });
    const run = await f.build(["-j", "2", "--profile", "trace.json"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toEqual(["//p:a", "//p:b", "//p:c", "//p:d"]);
    expect(run.stderr).toContain("profile written to trace.json");
    const trace = readTrace(join(f.ws, "trace.json"));
    const slices = trace.traceEvents.filter((e) => e.ph === "X");
    const steps = slices.filter((e) => e.cat === "step");
    expect(steps.map((s) => s.name).sort()).toEqual(run.executed);
    const laneName = new Map(trace.traceEvents.filter((e) => e.ph === "M" && e.name === "thread_name").map((e) => [e.tid, String(e.args!.name)]));
    for (const step of steps) expect(laneName.get(step.tid)).toMatch(/^job [12]$/);
    // b and c ran at once: two job lanes, and no lane has overlapping slices.
    expect(new Set(steps.map((s) => s.tid)).size).toBe(2);
    const byLane = new Map<number, typeof slices>();
    for (const slice of slices) byLane.set(slice.tid, [...(byLane.get(slice.tid) ?? []), slice]);
    for (const [tid, lane] of byLane) {
      if (tid === 0) continue; // main nests nothing, in order
      lane.sort((x, y) => x.ts - y.ts);
      for (let i = 1; i < lane.length; i++) expect(lane[i]!.ts).toBeGreaterThanOrEqual(lane[i - 1]!.ts + lane[i - 1]!.dur!);
    }
    const stepA = steps.find((s) => s.name === "//p:a")!;
    expect(stepA.dur!).toBeGreaterThanOrEqual(300_000);
    for (const category of ["load", "analysis", "key", "lookup", "hash"]) expect(slices.some((s) => s.cat === category), category).toBe(true);
    expect(slices.filter((s) => s.cat === "hash").map((s) => s.name)).toContain("p/big.bin");
    expect(slices.filter((s) => s.cat === "lookup")).toHaveLength(4);

    const analysis = await f.kiln(["analyze-profile", "trace.json"]);
    expect(analysis.code, show(analysis)).toBe(0);
    const lines = analysis.stdout.split("\n");
    const critical = lines.findIndex((l) => l.startsWith("critical path"));
    expect(critical).toBeGreaterThanOrEqual(0);
    expect(lines.slice(critical + 1, critical + 4).map((l) => l.trim().split(/\s+/)[1])).toEqual(["//p:a", "//p:b", "//p:d"]);
    const slowest = lines.findIndex((l) => l === "slowest steps:");
    expect(lines[slowest + 1]).toMatch(/^\s+0\.[3-9]\d?s\s+\/\/p:a\s+\(job [12]\)$/);
    expect(lines.slice(slowest + 1, slowest + 5)).toHaveLength(4);
    expect(analysis.stdout).toContain("hashing large files");
  });

  it("a build from the cache has lookups and no step slices; a file that is not a profile is exit 2", async () => {
    const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "p/BUILD.ts": BUILD, "p/big.bin": "small" });
    expect((await f.build()).code).toBe(0);
    expect((await f.kiln(["clean"])).code).toBe(0);
    const run = await f.build(["--profile", "cached.json"]);
    expect(run.cached).toHaveLength(4);
    const trace = readTrace(join(f.ws, "cached.json"));
    const slices = trace.traceEvents.filter((e) => e.ph === "X");
    expect(slices.filter((s) => s.cat === "step")).toEqual([]);
    expect(slices.filter((s) => s.cat === "lookup").map((s) => s.args?.hit)).toEqual(["local", "local", "local", "local"]);
    const analysis = await f.kiln(["analyze-profile", "cached.json"]);
    expect(analysis.stdout).toContain("critical path: no step executed");

    f.write({ "bad.json": `{"traceEvents": [{"name": 3}]}` });
    for (const [file, message] of [["bad.json", "bad.json is not a trace-event profile: at traceEvents.0.name"], ["missing.json", "cannot read the profile missing.json"]]) {
      const bad = await f.kiln(["analyze-profile", file!]);
      expect(bad.code, show(bad)).toBe(2);
      expect(bad.stderr).toContain(message);
      expect(stackLines(bad.stderr)).toEqual([]);
    }
  });
});
