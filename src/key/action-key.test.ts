import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical.js";
import { computeKey, describeKeyChanges, encodeIngredients, KEY_FORMAT, type KeyIngredients } from "./action-key.js";

const base: KeyIngredients = {
  format: KEY_FORMAT,
  label: "//models:classifier",
  rule: "step",
  action: "step",
  code: "abc#train",
  params: { lr: 0.1, nested: { b: 2, a: [1, "x"] } },
  inputs: [
    ["data/a.csv", "d1"],
    ["kiln-out/features/matrix/matrix.json", "d2"],
  ],
  outs: ["metrics.json", "model.json"],
  env: [["SEED", "1"]],
  tools: [["python3", "Python 3.11.2"]],
  platform: "linux-x64-node20",
};

describe("action key", () => {
  it("the fast encoder is byte-identical to canonical JSON", () => {
    expect(encodeIngredients(base)).toBe(canonicalJson(base));
    const odd = { ...base, params: null, inputs: [['a"quote', "\u2028"]] as [string, string][], env: [] };
    expect(encodeIngredients(odd)).toBe(canonicalJson(odd));
  });

  it("does not depend on the order params were written in", () => {
    const reordered = { ...base, params: { nested: { a: [1, "x"], b: 2 }, lr: 0.1 } };
    expect(computeKey(reordered)).toBe(computeKey(base));
  });

  it("changes with any input digest", () => {
    const changed = { ...base, inputs: [["data/a.csv", "d1"], ["kiln-out/features/matrix/matrix.json", "d3"]] as [string, string][] };
    expect(computeKey(changed)).not.toBe(computeKey(base));
  });

  it("explains what differs between two runs", () => {
    const after: KeyIngredients = {
      ...base,
      params: { lr: 0.05, nested: { b: 2, a: [1, "x"] } },
      inputs: [["data/a.csv", "d9"], ["data/b.csv", "d4"]],
      tools: [["python3", "Python 3.12.0"]],
    };
    expect(describeKeyChanges(base, after)).toEqual([
      "params.lr: 0.1 -> 0.05",
      "input changed: data/a.csv",
      "input added: data/b.csv",
      "input removed: kiln-out/features/matrix/matrix.json",
      "tool python3: Python 3.11.2 -> Python 3.12.0",
    ]);
    expect(describeKeyChanges(undefined, after)).toEqual(["no earlier run of this target in the cache"]);
  });
});
