/**
 * The penguins example end to end: a fresh copy of examples/penguins (without kiln-out) built by
 * the real CLI with this file's own cache dir. The tests of the first `describe` run in order on
 * one workspace and one cache: each starts from the state the previous one left, so every
 * "what reran" assertion compares against a fully cached pipeline. The second `describe` checks
 * the analysis-time entity check of `joins` on a small workspace written here.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cleanupTempDirs,
  makeTempDir,
  makeWorkspace,
  REPO,
  show,
  stackLines,
  WORKSPACE_TS,
  type Fixture,
  type RunResult,
} from "./harness.js";
import { statementSchema } from "../../src/lock/statement-schema.js";
import { readStatementStrictly, VERIFIER_AVAILABLE } from "../provenance/independent-verifier.js";

afterAll(cleanupTempDirs);

const EXAMPLE = join(REPO, "examples", "penguins");

/** Every file of examples/penguins except kiln-out/, as path -> content (all of them are text). */
function exampleFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(EXAMPLE, path);
      if (rel === "kiln-out" || rel === ".kiln" || rel === "dist" || entry.name === "node_modules") continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files[rel] = readFileSync(path, "utf8");
    }
  };
  walk(EXAMPLE);
  return files;
}

/** One cache for every workspace of this file. */
let cacheDir: string;
beforeAll(() => {
  cacheDir = join(makeTempDir("kiln-e2e-penguins-cache-"), "cache");
});

/** `--json` step events of a run that may have ended before a summary (exit 2). */
function stepEvents(run: RunResult): Array<{ type: string; label: string; status: string }> {
  return run.stdout
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as { type: string; label: string; status: string })
    .filter((event) => event.type === "step");
}

/** Absolute file paths named by stack frames (`    at fn (/path/file.ts:1:2)` or `    at /path/file.ts:1:2`). */
function framePaths(text: string): string[] {
  return stackLines(text)
    .map((line) => /\(?((?:file:\/\/)?\/[^():]+):\d+:\d+\)?\s*$/.exec(line)?.[1])
    .filter((path): path is string => path !== undefined)
    .map((path) => path.replace(/^file:\/\//, ""));
}

const SUMMARY_LINE = /^kiln: \d+ steps, \d+ executed, \d+ cached \(\d+ local, \d+ remote\), \d+ failed in \d+(\.\d+)?s$/;

const CLASSIFIER_CHAIN = ["//data:penguins", "//features:matrix", "//features:split", "//models:classifier"];
const ALL_BUILDS = [...CLASSIFIER_CHAIN, "//features:summary", "//reports:report"].sort();
const SPECIES = ["Adelie", "Chinstrap", "Gentoo"];

interface Metrics {
  accuracy: number;
  trainAccuracy: number;
  nTrain: number;
  nTest: number;
  perClass: Record<string, { precision: number; recall: number; f1: number; support: number }>;
  confusionMatrix: { labels: string[]; matrix: number[][] };
}

describe("examples/penguins", () => {
  let f: Fixture;
  let originalData: string;
  let originalModels: string;
  let firstBuild: RunResult;

  beforeAll(() => {
    f = makeWorkspace(exampleFiles(), { cache: cacheDir });
    originalData = f.read("data/penguins.json");
    originalModels = f.read("models/BUILD.ts");
  });

  const readMetrics = (): Metrics => JSON.parse(f.read("kiln-out/models/classifier/metrics.json")) as Metrics;

  it("builds //models:classifier with test accuracy >= 0.9", async () => {
    firstBuild = await f.kiln(["build", "//models:classifier"]);
    expect(firstBuild.code, show(firstBuild)).toBe(0);

    const metrics = readMetrics();
    expect(metrics.accuracy).toBeGreaterThanOrEqual(0.9);
    expect(metrics.accuracy).toBeLessThanOrEqual(1);
    expect(Object.keys(metrics.perClass).sort()).toEqual(SPECIES);
    for (const species of SPECIES) {
      expect(metrics.perClass[species]).toMatchObject({
        precision: expect.any(Number),
        recall: expect.any(Number),
        f1: expect.any(Number),
        support: expect.any(Number),
      });
    }
    expect([...metrics.confusionMatrix.labels].sort()).toEqual(SPECIES);
    const { matrix } = metrics.confusionMatrix;
    expect(matrix).toHaveLength(3);
    for (const row of matrix) {
      expect(row).toHaveLength(3);
      for (const n of row) expect(Number.isInteger(n) && n >= 0).toBe(true);
    }
    // The matrix covers the test set, and its diagonal is the accuracy.
    const total = matrix.flat().reduce((a, b) => a + b, 0);
    const correct = matrix.reduce((sum, row, i) => sum + row[i]!, 0);
    expect(total).toBe(metrics.nTest);
    expect(correct / total).toBeCloseTo(metrics.accuracy, 10);

    const model = JSON.parse(f.read("kiln-out/models/classifier/model.json")) as { classes: string[] };
    expect([...model.classes].sort()).toEqual(SPECIES);
  });

  it("plain output says where model.json and metrics.json are and ends with the summary line", () => {
    const out = firstBuild.stdout;
    expect(out, show(firstBuild)).toMatch(/(^|[\s/])kiln-out\/models\/classifier\/model\.json\s*$/m);
    expect(out, show(firstBuild)).toMatch(/(^|[\s/])kiln-out\/models\/classifier\/metrics\.json\s*$/m);
    expect(out).toMatch(/^kiln: 4 steps, 4 executed, 0 cached \(0 local, 0 remote\), 0 failed in /m);
    const lines = out.split("\n").filter((line) => line.trim().length > 0);
    expect(lines.at(-1), show(firstBuild)).toMatch(SUMMARY_LINE);
  });

  it("a rerun with nothing changed executes 0 steps", async () => {
    const run = await f.build(["//models:classifier"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toEqual([]);
    expect(run.cached).toEqual(CLASSIFIER_CHAIN);
    expect(run.summary).toMatchObject({ steps: 4, executed: 0, cached: 4, cachedLocal: 4, cachedRemote: 0, failed: 0 });
  });

  it("`build //...` builds everything but the test; `test //...` passes", async () => {
    const build = await f.build(["//..."]);
    expect(build.code, show(build)).toBe(0);
    expect(build.steps.map((s) => s.label).sort()).toEqual(ALL_BUILDS);
    expect(build.executed).toEqual(["//features:summary", "//reports:report"]);
    expect(build.summary).toMatchObject({ steps: 6, executed: 2, cached: 4, failed: 0 });

    const test = await f.kiln(["test", "//..."]);
    expect(test.code, show(test)).toBe(0);

    const again = await f.kiln(["test", "--json", "//..."]);
    expect(again.code, show(again)).toBe(0);
    const events = stepEvents(again);
    expect(events.find((e) => e.label === "//models:quality")?.status).toBe("cached");
  });

  it("the report is self-contained and shows the accuracy, the confusion matrix and the species", async () => {
    const run = await f.build(["//reports:report"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toEqual([]);

    const html = f.read("kiln-out/reports/report/report.html");
    const metrics = readMetrics();
    expect(html).toContain("<svg");
    // The headline figure: the test accuracy as a percentage with one decimal (98.8%).
    expect(html).toContain(`${(metrics.accuracy * 100).toFixed(1)}%`);
    for (const species of SPECIES) expect(html).toContain(species);
    expect(html).not.toMatch(/<script[^>]*\ssrc\s*=/i);
    expect(html).not.toMatch(/<link[^>]*\shref\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/\ssrc\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import\s+url\(\s*["']?(https?:)?\/\//i);
  });

  it("changing epochs reruns exactly the classifier and the report, then the quality test", async () => {
    const edited = originalModels.replace(/epochs: 500\b/, "epochs: 400");
    expect(edited).not.toBe(originalModels);
    f.write({ "models/BUILD.ts": edited });

    const build = await f.build(["//..."]);
    expect(build.code, show(build)).toBe(0);
    expect(build.executed).toEqual(["//models:classifier", "//reports:report"]);
    expect(build.cached).toEqual(["//data:penguins", "//features:matrix", "//features:split", "//features:summary"]);
    expect(build.summary).toMatchObject({ steps: 6, executed: 2, cached: 4, failed: 0 });

    const test = await f.kiln(["test", "--json", "//..."]);
    expect(test.code, show(test)).toBe(0);
    const events = stepEvents(test);
    expect(events.filter((e) => e.status === "executed").map((e) => e.label)).toEqual(["//models:quality"]);
    expect(events.filter((e) => e.status === "cached").map((e) => e.label).sort()).toEqual(CLASSIFIER_CHAIN);
    expect(events.filter((e) => e.status === "failed")).toEqual([]);
  });

  it("editing one value of penguins.json reruns from the dataset down", async () => {
    const rows = JSON.parse(originalData) as Array<Record<string, unknown>>;
    expect(rows[0]!["Body Mass (g)"]).toBe(3750);
    rows[0]!["Body Mass (g)"] = 3760;
    f.write({ "data/penguins.json": JSON.stringify(rows, null, 2) + "\n" });

    const build = await f.build(["//..."]);
    expect(build.code, show(build)).toBe(0);
    expect(build.executed).toContain("//data:penguins");
    expect(build.executed).toContain("//features:summary");
    // Row 1 is in one of the two splits and feeds the summary's statistics, so everything reruns.
    expect(build.executed).toEqual(ALL_BUILDS);
    const summary = JSON.parse(f.read("kiln-out/features/summary/summary.json")) as unknown;
    expect(JSON.stringify(summary)).toContain("Adelie");
  });

  it("a row that breaks the schema fails //data:penguins naming the row and the field", async () => {
    const rows = JSON.parse(originalData) as Array<Record<string, unknown>>;
    rows[16]!.Species = "Dodo"; // row 17, counting data rows from 1
    f.write({ "data/penguins.json": JSON.stringify(rows, null, 2) + "\n" });
    try {
      const run = await f.kiln(["build", "//models:classifier"]);
      // Data that does not fit its schema is the input's fault: exit 2, as the contract says.
      expect(run.code, show(run)).toBe(2);
      expect(run.stderr).toContain("//data:penguins");
      expect(run.stderr).toMatch(/\brow 17\b/);
      expect(run.stderr).toContain('"Species"');
      expect(stackLines(run.stderr), show(run)).toEqual([]);
      expect(stackLines(run.stdout), show(run)).toEqual([]);

      const json = await f.build(["//models:classifier"]);
      expect(json.code, show(json)).toBe(2);
      expect(json.failed).toEqual(["//data:penguins"]);
      expect(json.executed).toEqual([]);
      expect(json.summary.failed).toBe(1);
    } finally {
      // Restored whatever happened: the tests after this one build the real data.
      f.write({ "data/penguins.json": originalData });
    }
  });

  it("a bar above the model's accuracy fails `kiln test` naming //models:quality and the shortfall", async () => {
    f.write({ "models/BUILD.ts": originalModels.replace(/minAccuracy: 0\.9\b/, "minAccuracy: 0.999") });
    expect(f.read("models/BUILD.ts")).toContain("minAccuracy: 0.999");

    const run = await f.kiln(["test", "//..."]);
    expect(run.code, show(run)).toBe(1);
    const output = run.stdout + run.stderr;
    expect(output).toContain("//models:quality");
    expect(output).toContain(`test accuracy ${(readMetrics().accuracy * 100).toFixed(1)}% is below the required 99.9%`);
    // A stack frame of the user's code is fine, but it must point at the file in the workspace.
    for (const file of framePaths(output)) expect(existsSync(file), `stack frame names ${file}\n${show(run)}`).toBe(true);
  });

  it("minAccuracy 1.01 makes `kiln test` exit 1 naming //models:quality", async () => {
    f.write({ "models/BUILD.ts": originalModels.replace(/minAccuracy: 0\.9\b/, "minAccuracy: 1.01") });
    expect(f.read("models/BUILD.ts")).toContain("minAccuracy: 1.01");

    const run = await f.kiln(["test", "//..."]);
    expect(run.code, show(run)).toBe(1);
    expect(run.stdout + run.stderr).toContain("//models:quality");

    const json = await f.kiln(["test", "--json", "//..."]);
    expect(json.code, show(json)).toBe(1);
    const events = stepEvents(json);
    expect(events.filter((e) => e.status === "failed").map((e) => e.label)).toEqual(["//models:quality"]);
    expect(events.filter((e) => e.status === "cached").map((e) => e.label).sort()).toEqual(CLASSIFIER_CHAIN);

    // Back to the committed bar: passes again, the classifier still cached.
    f.write({ "models/BUILD.ts": originalModels });
    const back = await f.kiln(["test", "--json", "//..."]);
    expect(back.code, show(back)).toBe(0);
    expect(stepEvents(back).find((e) => e.label === "//models:classifier")?.status).toBe("cached");
  });
});

/** A workspace with three datasets (penguins and weights keyed by penguin, islands by island) and a join step. */
function joinFiles(joinBuild: string): Record<string, string> {
  return {
    "WORKSPACE.ts": WORKSPACE_TS,
    "data/penguins.csv": ["species,island,mass", "Adelie,Torgersen,3750", "Gentoo,Biscoe,5000", "Chinstrap,Dream,3500", ""].join("\n"),
    "data/islands.csv": ["island,area_km2", "Biscoe,0.9", "Dream,1.2", "Torgersen,0.1", ""].join("\n"),
    "data/tags.jsonl": ['{"penguin":1,"tag":"T-001"}', '{"penguin":2,"tag":"T-002"}', '{"penguin":3,"tag":"T-003"}', ""].join("\n"),
    "data/BUILD.ts": [
      `import { dataset } from "kiln";`,
      `import { z } from "zod";`,
      `export const penguins = dataset({`,
      `  src: "penguins.csv",`,
      `  format: "csv",`,
      `  schema: z.object({ species: z.string(), island: z.string(), mass: z.number() }),`,
      `  index: { column: "id", entity: "penguin" },`,
      `});`,
      `export const islands = dataset({`,
      `  src: "islands.csv",`,
      `  format: "csv",`,
      `  schema: z.object({ island: z.string(), area_km2: z.number() }),`,
      `  index: { column: "island", entity: "island" },`,
      `});`,
      `export const tags = dataset({`,
      `  src: "tags.jsonl",`,
      `  format: "jsonl",`,
      `  schema: z.object({ penguin: z.int(), tag: z.string() }),`,
      `  index: { column: "penguin", entity: "penguin" },`,
      `});`,
      ``,
    ].join("\n"),
    "analysis/join.ts": [
      `import { readFileSync, writeFileSync } from "node:fs";`,
      `const rows = (path: string) => readFileSync(path, "utf8").split("\\n").filter(Boolean).map((l) => JSON.parse(l));`,
      `/** Left rows, each with the fields of the right row whose rightKey equals its leftKey. */`,
      `export function joinRows(ctx: any): void {`,
      `  const { left, right, leftKey, rightKey } = ctx.params;`,
      `  const byKey = new Map(rows(ctx.srcs[right]).map((r: any) => [r[rightKey], r]));`,
      `  const out = rows(ctx.srcs[left]).map((l: any) => ({ ...l, ...byKey.get(l[leftKey]) }));`,
      `  writeFileSync(ctx.out("joined.jsonl"), out.map((r: any) => JSON.stringify(r)).join("\\n") + "\\n");`,
      `}`,
      ``,
    ].join("\n"),
    "analysis/BUILD.ts": joinBuild,
  };
}

/** analysis/BUILD.ts: one step joining //data:penguins (as "penguins") with another dataset. */
function joinStep(name: string, right: string, leftKey: string, rightKey: string): string {
  return [
    `import { step } from "kiln";`,
    `export const ${name} = step({`,
    `  srcs: { penguins: "//data:penguins", ${right}: "//data:${right}" },`,
    `  outs: ["joined.jsonl"],`,
    `  run: "./join.ts#joinRows",`,
    `  params: { left: "penguins", right: "${right}", leftKey: "${leftKey}", rightKey: "${rightKey}" },`,
    `  joins: [{ left: "penguins", right: "${right}" }],`,
    `});`,
    ``,
  ].join("\n");
}

describe("dataset joins are checked for matching entities before anything runs", () => {
  it("joining penguin keys with island keys is a workspace error (exit 2), and nothing runs", async () => {
    // The step itself would run happily (joining on the island name): only analysis stops it.
    const f = makeWorkspace(joinFiles(joinStep("by_island", "islands", "island", "island")), { cache: cacheDir });

    const run = await f.kiln(["build", "--json", "//analysis:by_island"]);
    expect(run.code, show(run)).toBe(2);
    expect(stepEvents(run), show(run)).toEqual([]);
    expect(run.stderr).toContain("//data:penguins");
    expect(run.stderr).toContain("//data:islands");
    expect(run.stderr).toMatch(/\bpenguin\b/);
    expect(run.stderr).toMatch(/\bisland\b/);
    expect(stackLines(run.stderr), show(run)).toEqual([]);
    expect(existsSync(join(f.ws, "kiln-out", "data", "penguins", "rows.jsonl"))).toBe(false);
    expect(existsSync(join(f.ws, "kiln-out", "analysis", "by_island"))).toBe(false);

    const plain = await f.kiln(["build", "//..."]);
    expect(plain.code, show(plain)).toBe(2);
    expect(plain.stderr).toContain("//analysis:by_island");
    expect(existsSync(join(f.ws, "kiln-out", "data", "penguins", "rows.jsonl"))).toBe(false);
  });

  it("joining two datasets keyed by penguin builds", async () => {
    const f = makeWorkspace(joinFiles(joinStep("tagged", "tags", "id", "penguin")), { cache: cacheDir });

    const run = await f.build(["//analysis:tagged"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toEqual(["//analysis:tagged", "//data:penguins", "//data:tags"]);
    const joined = f
      .read("kiln-out/analysis/tagged/joined.jsonl")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(joined).toEqual([
      { id: 1, species: "Adelie", island: "Torgersen", mass: 3750, penguin: 1, tag: "T-001" },
      { id: 2, species: "Gentoo", island: "Biscoe", mass: 5000, penguin: 2, tag: "T-002" },
      { id: 3, species: "Chinstrap", island: "Dream", mass: 3500, penguin: 3, tag: "T-003" },
    ]);
  });
});

describe("examples/penguins as a distribution: lock, provenance, why, a url source", () => {
  let f: Fixture;
  beforeAll(() => {
    f = makeWorkspace(exampleFiles(), { cache: join(makeTempDir("kiln-e2e-penguins-dist-"), "cache") });
  });
  const dataDigest = () => createHash("sha256").update(readFileSync(join(EXAMPLE, "data", "penguins.json"))).digest("hex");

  it("its committed kiln.lock matches the table, and a --locked build passes", async () => {
    const check = await f.kiln(["lock", "--check"]);
    expect(check.code, show(check)).toBe(0);
    expect(JSON.parse(f.read("kiln.lock")).sources.penguins.sha256).toBe(dataDigest());
    const build = await f.kiln(["build", "--locked", "--provenance", "//models:classifier"]);
    expect(build.code, show(build)).toBe(0);
    expect(build.stderr).not.toContain("warning");
  });

  it("What data did this train on? provenance names the table and its digest", async () => {
    const run = await f.kiln(["provenance", "//models:classifier"]);
    expect(run.code, show(run)).toBe(0);
    const statement = statementSchema.parse(JSON.parse(run.stdout));
    expect(statement.subject.map((s) => s.name).sort()).toEqual(["kiln-out/models/classifier/metrics.json", "kiln-out/models/classifier/model.json"]);
    const deps = new Map(statement.predicate.buildDefinition.resolvedDependencies.map((d) => [d.name, d]));
    expect(deps.get("@penguins")).toMatchObject({ digest: { sha256: dataDigest() }, annotations: { kind: "path", location: "data/penguins.json" } });
    // The table is listed once, as @penguins (not again as the file a sandbox sees).
    expect([...deps.keys()].filter((name) => name?.includes("penguins.json"))).toEqual([]);
    expect(deps.get("models/train.ts")?.annotations).toMatchObject({ kind: "code", step: "//models:classifier" });
    // Every BUILD.ts on the path, WORKSPACE.ts and kiln.lock, with the digests they had.
    for (const file of ["WORKSPACE.ts", "kiln.lock", "data/BUILD.ts", "features/BUILD.ts", "models/BUILD.ts"]) {
      expect(deps.get(file), file).toMatchObject({ digest: { sha256: createHash("sha256").update(f.read(file)).digest("hex") }, annotations: { kind: "definition" } });
    }
    expect(deps.has("reports/BUILD.ts")).toBe(false);
    // npm packages as purls with package-lock.json's integrity, not as node_modules/<pkg>/package.json.
    const zod = JSON.parse(readFileSync(join(REPO, "node_modules/zod/package.json"), "utf8")) as { version: string };
    const zodLock = (JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as { packages: Record<string, { integrity: string }> }).packages["node_modules/zod"]!;
    expect(deps.get(`pkg:npm/zod@${zod.version}`)).toMatchObject({
      uri: `pkg:npm/zod@${zod.version}`,
      digest: { sha512: Buffer.from(zodLock.integrity.replace(/^sha512-/, ""), "base64").toString("hex") },
    });
    expect([...deps.keys()].filter((name) => name?.startsWith("node_modules/"))).toEqual([]);
    expect(new Set(deps.keys()).size).toBe(statement.predicate.buildDefinition.resolvedDependencies.length);
    // Byproducts are real artifacts: each step's log, a blob in the cache by its digest.
    const logs = statement.predicate.runDetails.byproducts ?? [];
    expect(logs.length).toBeGreaterThan(0);
    for (const log of logs) {
      const digest = log.digest!.sha256!;
      expect(createHash("sha256").update(readFileSync(join(f.cache, "cas", digest.slice(0, 2), digest))).digest("hex")).toBe(digest);
    }
    expect(JSON.parse(f.read("kiln-out/models/classifier.provenance.json"))).toEqual(statement);
  });

  it("Is this the data it was trained on? --verify, run from elsewhere with -C, catches one edited value (both digests, exit 1)", async () => {
    const statementFile = join(makeTempDir(), "statement.json");
    expect((await f.kiln(["provenance", "//models:classifier", "--out", statementFile])).code).toBe(0);
    const elsewhere = makeTempDir();
    const clean = await f.kiln(["provenance", "--verify", statementFile, "-C", f.ws], { cwd: elsewhere, noWorkspaceFlag: true });
    expect(clean.code, show(clean)).toBe(0);
    expect(clean.stdout).toContain("all 2 subjects match");
    expect(clean.stdout).toMatch(/all \d+ materials in the workspace match/);
    const original = f.read("data/penguins.json");
    f.write({ "data/penguins.json": original.replace('"Beak Length (mm)": 39.1,', '"Beak Length (mm)": 39.2,') });
    expect(f.read("data/penguins.json")).not.toBe(original);
    const edited = createHash("sha256").update(f.read("data/penguins.json")).digest("hex");
    try {
      const drift = await f.kiln(["provenance", "--verify", statementFile, "-C", f.ws], { cwd: elsewhere, noWorkspaceFlag: true });
      expect(drift.code, show(drift)).toBe(1);
      expect(drift.stdout).toContain(`DRIFT     @penguins (data/penguins.json)\n    statement sha256 ${dataDigest()}\n    on disk   sha256 ${edited}`);
      expect(drift.stdout).toMatch(/^1 of \d+ materials differ from the workspace/m);
      const subjects = await f.kiln(["provenance", "--verify", statementFile, "--subjects-only", "-C", f.ws], { cwd: elsewhere, noWorkspaceFlag: true });
      expect(subjects.code, show(subjects)).toBe(0);
      expect(subjects.stdout).not.toContain("materials");
      // A new statement is still the last build's: it says so, naming the file.
      const stale = await f.kiln(["provenance", "//models:classifier"]);
      expect(stale.code, show(stale)).toBe(0);
      expect(stale.stderr).toContain("this statement describes the last build of //models:classifier, not the tree as it is: 1 of its materials changed since (@penguins = data/penguins.json)");
    } finally {
      f.write({ "data/penguins.json": original });
    }
    const fresh = await f.kiln(["provenance", "//models:classifier"]);
    expect(fresh.stderr).not.toContain("not the tree");

    // A comment edited in BUILD.ts reruns nothing, and the statement then names the BUILD.ts of
    // this build: no drift is reported for a tree that was just built.
    const models = f.read("models/BUILD.ts");
    f.write({ "models/BUILD.ts": `// a comment\n${models}` });
    try {
      const build = await f.build(["//models:classifier"]);
      expect(build.executed).toEqual([]);
      const after = await f.kiln(["provenance", "//models:classifier"]);
      expect(after.stderr, show(after)).not.toContain("not the tree");
      const deps = statementSchema.parse(JSON.parse(after.stdout)).predicate.buildDefinition.resolvedDependencies;
      expect(deps.find((d) => d.name === "models/BUILD.ts")?.digest?.sha256).toBe(createHash("sha256").update(f.read("models/BUILD.ts")).digest("hex"));
    } finally {
      f.write({ "models/BUILD.ts": models });
    }
  });

  it("Can I reproduce this run? kiln verify rebuilds every step without the cache: all identical", async () => {
    const run = await f.kiln(["verify", "//..."]);
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toContain("6 steps rebuilt without the cache, 6 compared, 0 differ");
  });

  it("why after a param change names the param and both values", async () => {
    f.write({ "models/BUILD.ts": f.read("models/BUILD.ts").replace("epochs: 500", "epochs: 600") });
    const build = await f.build(["//models:classifier"]);
    expect(build.code, show(build)).toBe(0);
    expect(build.executed).toEqual(["//models:classifier"]);
    const why = await f.kiln(["why", "//models:classifier"]);
    expect(why.code, show(why)).toBe(0);
    expect(why.stdout).toContain("params.epochs: 500 -> 600");
    f.write({ "models/BUILD.ts": f.read("models/BUILD.ts").replace("epochs: 600", "epochs: 500") });
  });

  it("Which model is in production? a release, and its statement checked against the deployed files", async () => {
    const made = await f.kiln(["release", "//models:classifier", "--version", "1.0.0"]);
    expect(made.code, show(made)).toBe(0);
    const statement = join(f.ws, "dist", "penguins-classifier-1.0.0", "provenance.json");
    const verify = await f.kiln(["provenance", "--verify", statement]);
    expect(verify.code, show(verify)).toBe(0);
    expect(verify.stdout).toContain("all 2 subjects match");
    // The model in the workspace is the one released: same digest.
    const here = await f.kiln(["provenance", "--verify", statement, "--dir", f.ws]);
    expect(here.code, show(here)).toBe(0);
  });

  it.runIf(VERIFIER_AVAILABLE)("in-toto's own protos read every statement strictly (no unknown field): the target's, the release's, the archive's", async () => {
    const file = join(makeTempDir(), "statement.json");
    expect((await f.kiln(["provenance", "//models:classifier", "--out", file])).code).toBe(0);
    const release = join(f.ws, "dist", "penguins-classifier-1.0.0");
    for (const statement of [file, join(release, "provenance.json"), `${release}.tar.gz.provenance.json`]) {
      const read = readStatementStrictly(statement);
      expect(read, statement).toMatchObject({ status: 0, output: expect.stringMatching(/^ok [12] \d+ \d+$/) });
    }
    const archive = statementSchema.parse(JSON.parse(readFileSync(`${release}.tar.gz.provenance.json`, "utf8")));
    expect(archive.subject).toEqual([{ name: "penguins-classifier-1.0.0.tar.gz", digest: { sha256: createHash("sha256").update(readFileSync(`${release}.tar.gz`)).digest("hex") } }]);
  });

  it("How did the metrics move? release --diff and kiln metrics diff compare the declared metrics.json", async () => {
    const metricsOf = () => JSON.parse(f.read("kiln-out/models/classifier/metrics.json")) as { accuracy: number };
    const before = metricsOf().accuracy;
    const original = f.read("models/BUILD.ts");
    f.write({ "models/BUILD.ts": original.replace("epochs: 500", "epochs: 5") });
    try {
      const made = await f.kiln(["release", "//models:classifier", "--version", "1.1.0"]);
      expect(made.code, show(made)).toBe(0);
      const after = metricsOf().accuracy;
      expect(after).not.toBe(before);
      const line = `metric kiln-out/models/classifier/metrics.json accuracy: ${Number(before.toPrecision(6))} -> ${Number(after.toPrecision(6))}`;
      const diff = await f.kiln(["release", "--diff", "1.0.0", "1.1.0"]);
      expect(diff.code, show(diff)).toBe(0);
      expect(diff.stdout).toContain("//models:classifier params.epochs: 500 -> 5");
      expect(diff.stdout).toContain(line);
      expect(diff.stdout).not.toContain("metric kiln-out/models/classifier/metrics.json nTest:"); // unchanged leaves are not listed
      // Between builds: the previous one (epochs 500, from the cache) and the last.
      const builds = await f.kiln(["metrics", "diff", "//models:classifier"]);
      expect(builds.code, show(builds)).toBe(0);
      expect(builds.stdout).toMatch(/^\/\/models:classifier: previous \([0-9a-f]{12}\) -> last \([0-9a-f]{12}\):$/m);
      expect(builds.stdout).toContain(line);
      const release = await f.kiln(["metrics", "diff", "//models:classifier", "1.0.0", "last"]);
      expect(release.stdout).toContain(line);
      const none = await f.kiln(["metrics", "diff", "//features:split"]);
      expect(none.code, show(none)).toBe(2);
      expect(none.stderr).toContain("//features:split declares no metrics");
    } finally {
      f.write({ "models/BUILD.ts": original });
    }
  });

  it("the same table as a source.url from a local HTTP server gives the same keys: everything is cached", async () => {
    const table = readFileSync(join(EXAMPLE, "data", "penguins.json"));
    const server = createServer((request, response) => {
      if (request.url === "/penguins.json") response.writeHead(200, { "content-length": table.length }).end(table);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/penguins.json`;
      const original = f.read("WORKSPACE.ts");
      f.write({ "WORKSPACE.ts": original.replace('source.path("data/penguins.json")', `source.url(${JSON.stringify(url)}, { sha256: "${dataDigest()}" })`) });
      expect(f.read("WORKSPACE.ts")).toContain("source.url(");
      const build = await f.kiln(["build", "--locked", "//models:classifier"]);
      expect(build.code, show(build)).toBe(2); // the lock still says path
      expect(build.stderr).toContain("@penguins: changed since kiln.lock");
      expect((await f.kiln(["lock"])).code).toBe(0);
      const locked = await f.build(["--locked", "//models:classifier"]);
      expect(locked.code, show(locked)).toBe(0);
      expect(locked.executed).toEqual([]);
      const run = await f.kiln(["provenance", "//models:classifier"]);
      const statement = statementSchema.parse(JSON.parse(run.stdout));
      const source = statement.predicate.buildDefinition.resolvedDependencies.find((d) => d.name === "@penguins");
      expect(source).toMatchObject({ uri: url, digest: { sha256: dataDigest() }, annotations: { kind: "url" } });
      f.write({ "WORKSPACE.ts": original });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
