/**
 * Turning penguins into feature vectors: median imputation, one-hot categories and
 * standardisation, every statistic fitted on the train set only, so nothing about the test set
 * leaks into training. `fitEncoding` learns; `encodePenguin` applies; the fitted `Encoding` is
 * plain JSON, written into matrix.json and model.json so a prediction can be reproduced.
 */
import { MEASUREMENTS, type Measurement, type Penguin } from "./penguin.ts";

/** The categorical fields, one-hot encoded in this order. */
export const CATEGORICAL = ["island", "sex"] as const;
export type Categorical = (typeof CATEGORICAL)[number];

export interface Encoding {
  /** Column names of the feature vector: the measurements, then `island=Biscoe`, `sex=MALE`, ... */
  featureNames: string[];
  /** Train-set median of each measurement, used where one is missing. */
  medians: Record<Measurement, number>;
  /** Categories seen in the train set, sorted; an unseen or unknown value encodes as all zeros. */
  categories: Record<Categorical, string[]>;
  /** Train-set mean and (population) standard deviation of each imputed measurement. */
  means: Record<Measurement, number>;
  stds: Record<Measurement, number>;
}

export function fitEncoding(train: readonly Penguin[]): Encoding {
  if (train.length === 0) throw new Error("cannot fit an encoding on an empty train set");
  const medians = mapMeasurements((m) => {
    const observed = train.map((p) => p[m]).filter((v): v is number => v !== null);
    if (observed.length === 0) throw new Error(`no penguin in the train set has a value for ${m}`);
    return median(observed);
  });
  const imputed = mapMeasurements((m) => train.map((p) => p[m] ?? medians[m]));
  const means = mapMeasurements((m) => mean(imputed[m]));
  // A constant column would divide by zero; scaling it by 1 leaves it a harmless zero feature.
  const stds = mapMeasurements((m) => standardDeviation(imputed[m], means[m]) || 1);
  const categories = {
    island: distinctSorted(train.map((p) => p.island)),
    sex: distinctSorted(train.map((p) => p.sex)),
  };
  const featureNames = [
    ...MEASUREMENTS,
    ...CATEGORICAL.flatMap((field) => categories[field].map((value) => `${field}=${value}`)),
  ];
  return { featureNames, medians, categories, means, stds };
}

/** The feature vector of one penguin, in `encoding.featureNames` order. */
export function encodePenguin(penguin: Penguin, encoding: Encoding): number[] {
  const measurements = MEASUREMENTS.map((m) => ((penguin[m] ?? encoding.medians[m]) - encoding.means[m]) / encoding.stds[m]);
  const oneHot = CATEGORICAL.flatMap((field) => encoding.categories[field].map((value) => (penguin[field] === value ? 1 : 0)));
  return [...measurements, ...oneHot];
}

function mapMeasurements<T>(f: (m: Measurement) => T): Record<Measurement, T> {
  return Object.fromEntries(MEASUREMENTS.map((m) => [m, f(m)])) as Record<Measurement, T>;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Population standard deviation (divides by n), as scikit-learn's StandardScaler does. */
export function standardDeviation(values: readonly number[], valuesMean = mean(values)): number {
  return Math.sqrt(values.reduce((sum, v) => sum + (v - valuesMean) ** 2, 0) / values.length);
}

function distinctSorted(values: readonly (string | null)[]): string[] {
  return [...new Set(values.filter((v): v is string => v !== null))].sort();
}
