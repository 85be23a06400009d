import { describe, expect, it } from "vitest";
import { KEY_FORMAT, type KeyIngredients } from "../key/action-key.js";
import { provenanceStatement, walkBuild, type ActionRecord } from "./provenance.js";
import { statementSchema } from "./statement-schema.js";

const h = (c: string) => c.repeat(64);
function record(key: string, label: string, inputs: [string, string][], deps: [string, string][], sources = {}): ActionRecord {
  const ingredients: KeyIngredients = { format: KEY_FORMAT, label, rule: "step", action: "step", code: `${h("c")}#run`, params: { k: 1 }, inputs, outs: ["o"], env: [], tools: [], platform: "linux-x64-node20" };
  return {
    key,
    ingredients,
    result: { outputs: [{ name: "o", digest: h("f") as never, size: 1 }], log: h("e") as never, ms: 5, createdAt: 0 },
    origins: { deps, sources, code: [["m.ts", h("d")], ["node_modules/zod/package.json", h("9")]], definition: [["WORKSPACE.ts", h("7")]] },
  };
}

describe("walkBuild and provenanceStatement", () => {
  const records = new Map<string, ActionRecord>([
    [h("1"), record(h("1"), "//m:model", [["kiln-out/d/data/o", h("f")], ["m/conf.json", h("a")]], [["//d:data", h("2")]])],
    [h("2"), record(h("2"), "//d:data", [["external/t/t.csv", h("b")]], [], { t: { kind: "url", location: "https://x/t.csv", sha256: h("b"), size: 9 } })],
  ]);

  it("walks from an output's action down to files and sources, and says what it could not reach", () => {
    const walk = walkBuild(h("1"), (k) => records.get(k));
    expect(walk.actions.map((a) => a.ingredients.label)).toEqual(["//m:model", "//d:data"]);
    expect(walk.incomplete).toEqual([]);
    const partial = walkBuild(h("1"), (k) => (k === h("2") ? undefined : records.get(k)));
    expect(partial.incomplete).toEqual([h("2")]);
  });

  const context = { workspace: { name: "w", version: "1" }, kilnVersion: "0.1.0", nodeVersion: "20", platform: "p", invocationId: "run-1" };

  it("makes a statement that the schema accepts, listing each material once, no intermediates", () => {
    const walk = walkBuild(h("1"), (k) => records.get(k));
    const statement = provenanceStatement(walk, {
      ...context,
      materials: {
        npmPackage: (path, digest) => (path === "node_modules/zod/package.json" && digest === h("9") ? { name: "zod", version: "4.0.0", integrity: { algorithm: "sha512", hex: "ab" } } : undefined),
        git: { commit: "c".repeat(40), remote: "https://example.com/w.git", dirty: true },
      },
    });
    statementSchema.parse(statement);
    expect(statement.subject).toEqual([{ name: "kiln-out/m/model/o", digest: { sha256: h("f") } }]);
    // The source's file in the sandbox (external/t/t.csv) is the same bytes as @t: listed once, as @t.
    expect(statement.predicate.buildDefinition.resolvedDependencies.map((d) => d.name)).toEqual([
      "@t",
      "WORKSPACE.ts",
      `git+https://example.com/w.git@${"c".repeat(40)}`,
      "m.ts",
      "m/conf.json",
      "pkg:npm/zod@4.0.0",
    ]);
    const byName = new Map(statement.predicate.buildDefinition.resolvedDependencies.map((d) => [d.name, d]));
    expect(byName.get("@t")).toMatchObject({ uri: "https://x/t.csv", digest: { sha256: h("b") } });
    expect(byName.get("pkg:npm/zod@4.0.0")).toMatchObject({ uri: "pkg:npm/zod@4.0.0", digest: { sha512: "ab" } });
    expect(byName.get(`git+https://example.com/w.git@${"c".repeat(40)}`)).toMatchObject({ digest: { gitCommit: "c".repeat(40) }, annotations: { dirty: true } });
    // Byproducts are the logs, by their blob digest.
    expect(statement.predicate.runDetails.byproducts!.map((b) => [b.name, b.digest?.sha256])).toEqual([
      ["log of //m:model", h("e")],
      ["log of //d:data", h("e")],
    ]);
    expect(statement.predicate.runDetails.metadata?.invocationId).toBe("run-1");
  });

  it("an npm package not installed as recorded stays its package.json path; a release's statement has no run metadata", () => {
    const statement = provenanceStatement(walkBuild(h("1"), (k) => records.get(k)), { ...context, times: false });
    expect(statement.predicate.buildDefinition.resolvedDependencies.map((d) => d.name)).toContain("node_modules/zod/package.json");
    expect(statement.predicate.runDetails.metadata).toBeUndefined();
  });
});
