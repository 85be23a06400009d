/**
 * Classification metrics, as written to metrics.json and read by the quality test and the report.
 */

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** How many test penguins truly are of this class. */
  support: number;
}

export interface ConfusionMatrix {
  labels: string[];
  /** `matrix[t][p]`: how many penguins of class `labels[t]` were predicted as `labels[p]`. */
  matrix: number[][];
}

export interface ClassificationMetrics {
  /** Test-set accuracy. */
  accuracy: number;
  perClass: Record<string, ClassMetrics>;
  confusionMatrix: ConfusionMatrix;
  trainAccuracy: number;
  nTrain: number;
  nTest: number;
}

/** Builds the confusion matrix of `actual` against `predicted` over `labels`. */
export function confusionMatrix(actual: readonly string[], predicted: readonly string[], labels: readonly string[]): ConfusionMatrix {
  if (actual.length !== predicted.length) throw new Error(`${actual.length} labels but ${predicted.length} predictions`);
  const position = new Map(labels.map((label, i) => [label, i]));
  const matrix = labels.map(() => labels.map(() => 0));
  actual.forEach((label, i) => {
    const t = position.get(label);
    const p = position.get(predicted[i]!);
    if (t === undefined || p === undefined) throw new Error(`unknown class "${t === undefined ? label : predicted[i]}"`);
    matrix[t]![p]!++;
  });
  return { labels: [...labels], matrix };
}

export function accuracy(actual: readonly string[], predicted: readonly string[]): number {
  if (actual.length === 0) return 0;
  return actual.filter((label, i) => label === predicted[i]).length / actual.length;
}

/**
 * Precision, recall and F1 of each class, from a confusion matrix. A class never predicted has
 * precision 0 (as scikit-learn reports with zero_division=0), and likewise for recall and F1.
 */
export function perClassMetrics({ labels, matrix }: ConfusionMatrix): Record<string, ClassMetrics> {
  return Object.fromEntries(
    labels.map((label, k) => {
      const truePositives = matrix[k]![k]!;
      const support = matrix[k]!.reduce((sum, n) => sum + n, 0);
      const predictedCount = matrix.reduce((sum, row) => sum + row[k]!, 0);
      const precision = ratio(truePositives, predictedCount);
      const recall = ratio(truePositives, support);
      const f1 = ratio(2 * precision * recall, precision + recall);
      return [label, { precision, recall, f1, support }];
    }),
  );
}

function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator;
}
