import { describe, expect, it } from "vitest";
import type { ClassificationMetrics } from "../../examples/penguins/models/metrics.ts";
import { accuracyProblem } from "../../examples/penguins/models/quality.ts";

const metrics: ClassificationMetrics = {
  accuracy: 0.85,
  perClass: {
    Adelie: { precision: 0.8, recall: 1, f1: 0.9, support: 8 },
    Chinstrap: { precision: 1, recall: 0.5, f1: 0.67, support: 4 },
  },
  confusionMatrix: { labels: ["Adelie", "Chinstrap"], matrix: [[8, 0], [2, 2]] },
  trainAccuracy: 0.9,
  nTrain: 36,
  nTest: 12,
};

describe("accuracyProblem", () => {
  it("passes at or above the bar", () => {
    expect(accuracyProblem(metrics, 0.85)).toBeUndefined();
  });

  it("says how far below the bar and which species were missed", () => {
    expect(accuracyProblem(metrics, 0.9)).toBe("test accuracy 85.0% is below the required 90.0% (12 test penguins; Chinstrap recall 50.0%)");
  });
});
