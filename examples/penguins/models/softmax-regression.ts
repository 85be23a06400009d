/**
 * Multinomial (softmax) logistic regression, trained with full-batch gradient descent and an L2
 * penalty on the weights (not the biases). Weights start at zero and every epoch visits the rows
 * in order, so training is a pure function of its inputs: no randomness to seed.
 */

export interface SoftmaxModel {
  /** One row of weights a class, one column a feature. */
  weights: number[][];
  /** One bias a class. */
  bias: number[];
}

export interface TrainingOptions {
  learningRate: number;
  epochs: number;
  /** Strength of the L2 penalty `l2 / 2 * sum(w^2)`. */
  l2: number;
}

/**
 * Fits a model to rows `X` whose classes are `labels` (indices below `classCount`).
 * `onEpoch` sees the penalised mean cross-entropy before each epoch's update.
 */
export function trainSoftmaxRegression(
  X: readonly (readonly number[])[],
  labels: readonly number[],
  classCount: number,
  options: TrainingOptions,
  onEpoch?: (epoch: number, loss: number) => void,
): SoftmaxModel {
  if (X.length === 0) throw new Error("cannot train on no rows");
  if (X.length !== labels.length) throw new Error(`${X.length} rows but ${labels.length} labels`);
  const featureCount = X[0]!.length;
  const model: SoftmaxModel = {
    weights: Array.from({ length: classCount }, () => new Array<number>(featureCount).fill(0)),
    bias: new Array<number>(classCount).fill(0),
  };
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const { loss, weightGradient, biasGradient } = lossAndGradient(model, X, labels, options.l2);
    onEpoch?.(epoch, loss);
    for (let k = 0; k < classCount; k++) {
      model.bias[k]! -= options.learningRate * biasGradient[k]!;
      for (let j = 0; j < featureCount; j++) model.weights[k]![j]! -= options.learningRate * weightGradient[k]![j]!;
    }
  }
  return model;
}

/** Penalised mean cross-entropy of the model on `X`, and its gradient. */
export function lossAndGradient(
  model: SoftmaxModel,
  X: readonly (readonly number[])[],
  labels: readonly number[],
  l2: number,
): { loss: number; weightGradient: number[][]; biasGradient: number[] } {
  const classCount = model.bias.length;
  const n = X.length;
  const weightGradient = model.weights.map((row) => row.map((w) => l2 * w));
  const biasGradient = new Array<number>(classCount).fill(0);
  let crossEntropy = 0;
  X.forEach((x, i) => {
    const probabilities = predictProbabilities(model, x);
    const label = labels[i]!;
    // Clamped so a confident mistake costs a large, finite loss rather than Infinity.
    crossEntropy -= Math.log(Math.max(probabilities[label]!, 1e-300));
    for (let k = 0; k < classCount; k++) {
      const error = (probabilities[k]! - (k === label ? 1 : 0)) / n;
      biasGradient[k]! += error;
      for (let j = 0; j < x.length; j++) weightGradient[k]![j]! += error * x[j]!;
    }
  });
  const penalty = (l2 / 2) * model.weights.flat().reduce((sum, w) => sum + w * w, 0);
  return { loss: crossEntropy / n + penalty, weightGradient, biasGradient };
}

/** The probability of each class for feature vector `x`. */
export function predictProbabilities(model: SoftmaxModel, x: readonly number[]): number[] {
  return softmax(model.weights.map((row, k) => row.reduce((sum, w, j) => sum + w * x[j]!, model.bias[k]!)));
}

/** The index of the most probable class (the lowest index on a tie). */
export function predictClass(model: SoftmaxModel, x: readonly number[]): number {
  const probabilities = predictProbabilities(model, x);
  return probabilities.reduce((best, p, k) => (p > probabilities[best]! ? k : best), 0);
}

/** Softmax shifted by the largest logit, so large logits do not overflow `Math.exp`. */
export function softmax(logits: readonly number[]): number[] {
  const largest = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - largest));
  const total = exps.reduce((sum, e) => sum + e, 0);
  return exps.map((e) => e / total);
}
