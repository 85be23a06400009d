import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { outputDir, type BuildGraph, type GraphTarget, type ResolvedInput } from "./action-graph.js";
import { standingLabels } from "./standing.js";
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

/**
 * The walk unchangedTargets did before it kept an index per closure: every input of every target
 * looked at, then the standing walk. The index must give the same answer on any graph.
 */
function referenceUnchanged(input: UnchangedTargetsInput): Set<string> {
  const { graph, root, closure } = input;
  const changed = new Set<string>();
  for (const path of input.changed) {
    if (!path.startsWith(`${root}/`)) return new Set();
    changed.add(path.slice(root.length + 1));
  }
  const changedTargets = new Set<string>();
  const attributed = new Set<string>();
  const touches = (path: string) => {
    if (!changed.has(path)) return false;
    attributed.add(path);
    return true;
  };
  for (const label of closure) {
    const target = graph.targets.get(label)!;
    if (target.spec.action === "files") continue;
    const last = input.lastResults.get(label);
    let isChanged = !last || input.recordedKeys.get(label) !== last.key;
    for (const inputs of Object.values(target.inputs)) for (const resolved of inputs) if (resolved.kind === "source" && touches(resolved.path)) isChanged = true;
    const dir = outputDir(target.pkg, target.name);
    for (const output of last?.outputs ?? []) if (touches(`${dir}/${output.name}`)) isChanged = true;
    if (target.spec.action === "step") for (const file of input.moduleFilesOf(label)) if (file.startsWith(`${root}/`) && touches(file.slice(root.length + 1))) isChanged = true;
    if (isChanged) changedTargets.add(label);
  }
  if (attributed.size < changed.size) return new Set();
  return standingLabels(closure, (label) => graph.targets.get(label)!.deps, (label) => !changedTargets.has(label));
}

describe("unchangedTargets against the full walk", () => {
  const PATHS = ["a.txt", "b.txt", "c/d.txt", "c/e.txt", "f.txt"];
  const graphs = fc.integer({ min: 1, max: 12 }).chain((n) =>
    fc.tuple(
      fc.array(
        fc.record({
          action: fc.constantFrom<"cmd" | "step" | "files">("cmd", "cmd", "step", "files"),
          sources: fc.subarray(PATHS),
          deps: fc.array(fc.nat(), { maxLength: 3 }),
          stale: fc.boolean(),
          unbuilt: fc.boolean(),
        }),
        { minLength: n, maxLength: n },
      ),
      fc.subarray([...PATHS, "kiln-out/p/t0/out.txt", "kiln-out/p/t3/out.txt", "m/t1.ts", "p/BUILD.ts", "/elsewhere/x"]),
      fc.nat(),
    ),
  );

  it("gives the same labels on random graphs, closures and changes, the index reused across calls", () => {
    fc.assert(
      fc.property(graphs, ([specs, changedPaths, cut]) => {
        const labels = specs.map((_, i) => `//p:t${i}`);
        const targets = specs.map((spec, i) => {
          // Dependencies on earlier labels only: a DAG.
          const deps = i === 0 ? [] : [...new Set(spec.deps.map((d) => labels[d % i]!))].sort();
          const inputs: ResolvedInput[] = [...spec.sources.map((path) => ({ kind: "source" as const, path })), ...deps.map((label) => ({ kind: "target" as const, label }))];
          return target(labels[i]!, spec.action, inputs, deps);
        });
        const g: BuildGraph = { targets: new Map(targets.map((t) => [t.label, t])) };
        // A closure: the last label's dependencies, or a prefix of the labels (closed under deps).
        const closureOf = cut % 2 === 0 ? labels.slice(0, 1 + (cut % labels.length)) : labels;
        const lastResults = new Map(specs.flatMap((spec, i) => (spec.unbuilt ? [] : [[labels[i]!, { key: `k${i}`, outputs: [{ name: "out.txt" }] }] as const])));
        const recordedKeys = new Map(specs.map((spec, i) => [labels[i]!, spec.stale ? "old" : `k${i}`]));
        const input: UnchangedTargetsInput = {
          graph: g,
          root: ROOT,
          closure: closureOf,
          changed: new Set(changedPaths.map((path) => (path.startsWith("/") ? path : `${ROOT}/${path}`))),
          recordedKeys,
          lastResults,
          moduleFilesOf: (label) => [`${ROOT}/m/${label.slice(4)}.ts`],
        };
        const expected = [...referenceUnchanged(input)].sort();
        expect([...unchangedTargets(input)].sort()).toEqual(expected);
        // Again with the index kept (the same graph and closure objects), other changes.
        const again = { ...input, changed: new Set([`${ROOT}/${PATHS[cut % PATHS.length]!}`]) };
        expect([...unchangedTargets(again)].sort()).toEqual([...referenceUnchanged(again)].sort());
      }),
      { numRuns: 300 },
    );
  });
});
