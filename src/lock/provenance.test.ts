import { describe, expect, it } from "vitest";
import { KEY_FORMAT, type KeyIngredients } from "../key/action-key.js";
import { provenanceStatement, walkBuild, type ActionRecord } from "./provenance.js";
import { statementSchema } from "./statement-schema.js";

const h = (c: string) => c.repeat(64);
function record(key: string, label: string, inputs: [string, string][], deps: [string, string][], sources = {}): ActionRecord {
  const ingredients: KeyIngredients = { format: KEY_FORMAT, label, rule: "step", action: "step", code: `${h("c")}#run`, params: { k: 1 }, inputs, outs: ["o"], env: [], tools: [], platform: "linux-x64-node20" };
  return { key, ingredients, result: { outputs: [{ name: "o", digest: h("f") as never, size: 1 }], ms: 5, createdAt: 0 }, origins: { deps, sources, code: [["m.ts", h("d")]] } };
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

  it("makes a statement that the schema accepts, listing source files, sources and code, no intermediates", () => {
    const statement = provenanceStatement(walkBuild(h("1"), (k) => records.get(k)), { workspace: { name: "w", version: "1" }, kilnVersion: "0.1.0", nodeVersion: "20", platform: "p" });
    statementSchema.parse(statement);
    expect(statement.subject).toEqual([{ name: "kiln-out/m/model/o", digest: { sha256: h("f") } }]);
    expect(statement.predicate.buildDefinition.resolvedDependencies.map((d) => d.name)).toEqual(["@t", "external/t/t.csv", "m.ts", "m/conf.json"]);
    expect(statement.predicate.buildDefinition.resolvedDependencies[0]).toMatchObject({ uri: "https://x/t.csv", digest: { sha256: h("b") } });
    expect(statement.predicate.runDetails.byproducts!.map((b) => b.annotations?.cached)).toEqual([null, null]);
  });
});
