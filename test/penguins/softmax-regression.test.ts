import { describe, expect, it } from "vitest";
import {
  lossAndGradient,
  predictClass,
  softmax,
  trainSoftmaxRegression,
  type SoftmaxModel,
} from "../../examples/penguins/models/softmax-regression.ts";

describe("softmax", () => {
  it("gives probabilities that sum to one, even for huge logits", () => {
    const p = softmax([1000, 1001, 1002]);
    expect(p.reduce((a, b) => a + b)).toBeCloseTo(1);
    expect(p.every(Number.isFinite)).toBe(true);
    expect(p[2]).toBeGreaterThan(p[1]!);
  });
});

describe("lossAndGradient", () => {
  it("matches a finite-difference estimate of the gradient", () => {
    const model: SoftmaxModel = { weights: [[0.1, -0.2], [0.3, 0.05], [-0.4, 0.2]], bias: [0.01, -0.02, 0.03] };
    const X = [[1, 2], [-1, 0.5], [0.3, -1.2], [2, 0]];
    const labels = [0, 1, 2, 1];
    const l2 = 0.1;
    const { weightGradient, biasGradient } = lossAndGradient(model, X, labels, l2);
    const h = 1e-6;
    const lossWith = (change: (m: SoftmaxModel) => void) => {
      const copy = structuredClone(model);
      change(copy);
      return lossAndGradient(copy, X, labels, l2).loss;
    };
    for (let k = 0; k < 3; k++) {
      for (let j = 0; j < 2; j++) {
        const numeric = (lossWith((m) => (m.weights[k]![j]! += h)) - lossWith((m) => (m.weights[k]![j]! -= h))) / (2 * h);
        expect(weightGradient[k]![j]).toBeCloseTo(numeric, 6);
      }
      const numeric = (lossWith((m) => (m.bias[k]! += h)) - lossWith((m) => (m.bias[k]! -= h))) / (2 * h);
      expect(biasGradient[k]).toBeCloseTo(numeric, 6);
    }
  });
});

describe("trainSoftmaxRegression", () => {
  // Three clusters on a line and off it: separable, so training should classify all of them.
  const X = [[-2, 0], [-1.8, 0.2], [-2.2, -0.1], [2, 0], [1.9, 0.3], [2.1, -0.2], [0, 2], [0.2, 2.1], [-0.1, 1.8]];
  const labels = [0, 0, 0, 1, 1, 1, 2, 2, 2];
  const options = { learningRate: 0.5, epochs: 300, l2: 0.001 };

  it("learns separable classes and lowers the loss", () => {
    const losses: number[] = [];
    const model = trainSoftmaxRegression(X, labels, 3, options, (_, loss) => losses.push(loss));
    expect(X.map((x) => predictClass(model, x))).toEqual(labels);
    expect(losses[0]).toBeCloseTo(Math.log(3));
    expect(losses.at(-1)!).toBeLessThan(0.1);
    expect(losses).toHaveLength(300);
  });

  it("is deterministic", () => {
    expect(trainSoftmaxRegression(X, labels, 3, options)).toEqual(trainSoftmaxRegression(X, labels, 3, options));
  });

  it("rejects mismatched rows and labels", () => {
    expect(() => trainSoftmaxRegression(X, [0], 3, options)).toThrow("9 rows but 1 labels");
  });
});
