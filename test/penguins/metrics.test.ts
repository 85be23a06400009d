import { describe, expect, it } from "vitest";
import { accuracy, confusionMatrix, perClassMetrics } from "../../examples/penguins/models/metrics.ts";

const labels = ["Adelie", "Chinstrap", "Gentoo"];
const actual = ["Adelie", "Adelie", "Adelie", "Chinstrap", "Chinstrap", "Gentoo"];
const predicted = ["Adelie", "Adelie", "Chinstrap", "Chinstrap", "Adelie", "Gentoo"];

describe("classification metrics", () => {
  it("counts actual classes in rows and predictions in columns", () => {
    expect(confusionMatrix(actual, predicted, labels)).toEqual({
      labels,
      matrix: [
        [2, 1, 0],
        [1, 1, 0],
        [0, 0, 1],
      ],
    });
  });

  it("computes accuracy and per-class precision, recall, F1 and support", () => {
    expect(accuracy(actual, predicted)).toBe(4 / 6);
    const perClass = perClassMetrics(confusionMatrix(actual, predicted, labels));
    expect(perClass["Adelie"]).toEqual({ precision: 2 / 3, recall: 2 / 3, f1: expect.closeTo(2 / 3, 12), support: 3 });
    expect(perClass["Chinstrap"]).toEqual({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
    expect(perClass["Gentoo"]).toEqual({ precision: 1, recall: 1, f1: 1, support: 1 });
  });

  it("reports 0 rather than NaN for a class never predicted or never present", () => {
    const perClass = perClassMetrics(confusionMatrix(["Adelie", "Gentoo"], ["Adelie", "Adelie"], labels));
    expect(perClass["Gentoo"]).toEqual({ precision: 0, recall: 0, f1: 0, support: 1 });
    expect(perClass["Chinstrap"]).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
  });

  it("rejects a label outside the classes", () => {
    expect(() => confusionMatrix(["Emperor"], ["Adelie"], labels)).toThrow('unknown class "Emperor"');
  });
});
