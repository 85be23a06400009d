// The penguins pipeline's pure steps chained on the real data, without the engine: split,
// encode, train, evaluate, render. Pins the accuracy the README and the quality test promise.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { buildFeatureMatrix } from "../../examples/penguins/features/feature-matrix.ts";
import { toPenguin, type PenguinRow } from "../../examples/penguins/features/penguin.ts";
import { seededRandom } from "../../examples/penguins/features/seeded-random.ts";
import { selectUsablePenguins, stratifiedSplit } from "../../examples/penguins/features/split-rows.ts";
import { trainClassifier } from "../../examples/penguins/models/classifier.ts";

const source = JSON.parse(readFileSync(new URL("../../examples/penguins/data/penguins.json", import.meta.url), "utf8")) as object[];
// What the dataset rule does with `index: { column: "id" }`: number the rows from 1.
const rows: PenguinRow[] = source.map((row, i) => ({ id: i + 1, ...row }));
const params = { split: { testFraction: 0.25, seed: 42 }, train: { learningRate: 0.1, epochs: 500, l2: 0.001 } };

function runPipeline() {
  const { usable, withoutMeasurements } = selectUsablePenguins(rows.map(toPenguin));
  const { train, test } = stratifiedSplit(usable, (p) => p.species, params.split.testFraction, seededRandom(params.split.seed));
  return { withoutMeasurements, ...trainClassifier(buildFeatureMatrix(train, test), params.train) };
}

describe("the penguins pipeline on the real data", () => {
  const result = runPipeline();

  it("drops the two penguins with no measurements and splits the rest 256/86", () => {
    expect(source).toHaveLength(344);
    expect(result.withoutMeasurements).toEqual([4, 340]);
    expect([result.metrics.nTrain, result.metrics.nTest]).toEqual([256, 86]);
  });

  it("classifies held-out penguins well above the quality bar", () => {
    expect(result.metrics.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(result.metrics.trainAccuracy).toBeGreaterThanOrEqual(0.97);
    expect(result.model.featureNames).toHaveLength(result.model.weights[0]!.length);
  });

  it("gives identical models and metrics on a second run", () => {
    expect(runPipeline()).toEqual(result);
  });
});
