/**
 * From matrix.json to a trained classifier and its metrics: the pure core of `//models:classifier`.
 */
import type { Encoding } from "../features/encoding.ts";
import type { FeatureMatrix } from "../features/feature-matrix.ts";
import { accuracy, confusionMatrix, perClassMetrics, type ClassificationMetrics } from "./metrics.ts";
import { lossAndGradient, predictClass, trainSoftmaxRegression, type SoftmaxModel, type TrainingOptions } from "./softmax-regression.ts";

/** model.json: everything needed to classify a raw penguin without this pipeline's code. */
export interface ModelFile extends SoftmaxModel {
  kind: "softmax-regression";
  /** Class of each row of `weights`. */
  classes: string[];
  /** Feature of each column of `weights`. */
  featureNames: string[];
  /** Imputation, one-hot categories and standardisation to apply to a raw penguin first. */
  encoding: Encoding;
  /** The hyperparameters, and the penalised train loss the model ended with. */
  training: TrainingOptions & { finalLoss: number };
}

export interface TrainedClassifier {
  model: ModelFile;
  metrics: ClassificationMetrics;
}

export function trainClassifier(
  matrix: FeatureMatrix,
  options: TrainingOptions,
  onEpoch?: (epoch: number, loss: number) => void,
): TrainedClassifier {
  const { classes } = matrix;
  const classIndex = new Map(classes.map((label, i) => [label, i]));
  const trainLabels = matrix.train.y.map((label) => {
    const index = classIndex.get(label);
    if (index === undefined) throw new Error(`train label "${label}" is not one of the classes ${classes.join(", ")}`);
    return index;
  });

  const softmax = trainSoftmaxRegression(matrix.train.X, trainLabels, classes.length, options, onEpoch);
  const finalLoss = lossAndGradient(softmax, matrix.train.X, trainLabels, options.l2).loss;
  const predict = (X: number[][]) => X.map((x) => classes[predictClass(softmax, x)]!);

  const testPredictions = predict(matrix.test.X);
  const confusion = confusionMatrix(matrix.test.y, testPredictions, classes);
  return {
    model: {
      kind: "softmax-regression",
      classes,
      featureNames: matrix.encoding.featureNames,
      weights: softmax.weights,
      bias: softmax.bias,
      encoding: matrix.encoding,
      training: { ...options, finalLoss },
    },
    metrics: {
      accuracy: accuracy(matrix.test.y, testPredictions),
      perClass: perClassMetrics(confusion),
      confusionMatrix: confusion,
      trainAccuracy: accuracy(matrix.train.y, predict(matrix.train.X)),
      nTrain: matrix.train.y.length,
      nTest: matrix.test.y.length,
    },
  };
}
