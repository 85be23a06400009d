import { describe, expect, it } from "vitest";
import type { BuildGraph, GraphTarget, ResolvedInput } from "./action-graph.js";
import { unchangedTargets, type UnchangedTargetsInput } from "./unchanged-targets.js";

const ROOT = "/ws";

/**
 * raw (source data/raw.csv) <- clean <- train (step, module models/train.ts) <- report
 *                              clean <------------------------------------------ report
 * docs (a files target over docs/a.md) is read by report as sources.
 * lone (source lone.txt) depends on nothing and nothing depends on it.
 */
function target(label: string, action: "cmd" | "step" | "files", inputs: ResolvedInput[], deps: string[]): GraphTarget {
  const [pkg, name] = label.slice(2).split(":") as [string, string];
  return {
    label,
    pkg,
    name,
    spec: { rule: action, action, srcs: {}, outs: action === "files" ? [] : ["out.txt"], ...(action === "step" ? { run: "./train.ts#train" } : {}) },
    location: { file: `${pkg}/BUILD.ts`, line: 1, column: 1 },
    inputs: { in: inputs },
    deps,
  };
}

const TARGETS = [
  target("//data:raw", "cmd", [{ kind: "source", path: "data/raw.csv" }], []),
  target("//data:clean", "cmd", [{ kind: "target", label: "//data:raw" }], ["//data:raw"]),
  target("//models:train", "step", [{ kind: "target", label: "//data:clean" }], ["//data:clean"]),
  target("//docs:docs", "files", [{ kind: "source", path: "docs/a.md" }], []),
  target(
    "//models:report",
    "cmd",
    [{ kind: "target", label: "//models:train" }, { kind: "target", label: "//data:clean" }, { kind: "source", path: "docs/a.md" }],
    ["//data:clean", "//models:train"],
  ),
  target("//lone:lone", "cmd", [{ kind: "source", path: "lone/lone.txt" }], []),
];
const graph: BuildGraph = { targets: new Map(TARGETS.map((t) => [t.label, t])) };
const closure = TARGETS.map((t) => t.label);
const executable = closure.filter((label) => label !== "//docs:docs");

function unchanged(changed: string[], overrides: Partial<UnchangedTargetsInput> = {}): string[] {
  const lastResults = new Map(executable.map((label) => [label, { key: `k-${label}`, outputs: [{ name: "out.txt" }] }]));
  return [
    ...unchangedTargets({
      graph,
      root: ROOT,
      closure,
      changed: new Set(changed.map((path) => `${ROOT}/${path}`)),
      recordedKeys: new Map(executable.map((label) => [label, `k-${label}`])),
      lastResults,
      moduleFilesOf: (label) => (label === "//models:train" ? [`${ROOT}/models/train.ts`, `${ROOT}/models/util.ts`] : []),
      ...overrides,
    }),
  ]
    .filter((label) => label !== "//docs:docs")
    .sort();
}

describe("unchangedTargets", () => {
  it("a changed source re-keys its target and everything downstream, nothing else", () => {
    expect(unchanged(["data/raw.csv"])).toEqual(["//lone:lone"]);
    expect(unchanged(["lone/lone.txt"])).toEqual(["//data:clean", "//data:raw", "//models:report", "//models:train"]);
  });

  it("a source reached through a files target re-keys the target reading it", () => {
    expect(unchanged(["docs/a.md"])).toEqual(["//data:clean", "//data:raw", "//lone:lone", "//models:train"]);
  });

  it("a changed or missing output re-keys its producer (to restore it) and its dependants", () => {
    expect(unchanged(["kiln-out/models/train/out.txt"])).toEqual(["//data:clean", "//data:raw", "//lone:lone"]);
  });

  it("a changed file of a step's module re-keys that step", () => {
    expect(unchanged(["models/util.ts"])).toEqual(["//data:clean", "//data:raw", "//lone:lone"]);
  });

  it("trusts nothing when a change belongs to no target (a BUILD file, a directory)", () => {
    expect(unchanged(["data/BUILD.ts"])).toEqual([]);
    expect(unchanged(["lone/lone.txt", "data"])).toEqual([]);
  });

  it("re-keys a target whose last result is not the one the stamp recorded", () => {
    const recordedKeys = new Map(executable.map((label) => [label, `k-${label}`]));
    recordedKeys.set("//data:clean", "an older key");
    expect(unchanged(["lone/lone.txt"], { recordedKeys })).toEqual(["//data:raw"]);
    const lastResults = new Map(executable.filter((l) => l !== "//lone:lone").map((label) => [label, { key: `k-${label}`, outputs: [{ name: "out.txt" }] }]));
    expect(unchanged(["data/raw.csv"], { lastResults })).toEqual([]);
  });

  it("nothing changed: everything is unchanged", () => {
    expect(unchanged([])).toEqual(executable.slice().sort());
  });
});
