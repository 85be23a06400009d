/**
 * matrix.json, the contract between features/ and models/: the fitted encoding and the encoded
 * train and test sets. Plain JSON so any trainer (this one, or a Python one in a `cmd`) can read it.
 */
import { encodePenguin, fitEncoding, type Encoding } from "./encoding.ts";
import type { LabelledPenguin } from "./split-rows.ts";

export interface EncodedSet {
  /** The penguins' ids, so a prediction can be traced back to its row. */
  ids: number[];
  /** One feature vector a penguin, columns as `encoding.featureNames`. */
  X: number[][];
  /** Each penguin's species. */
  y: string[];
}

export interface FeatureMatrix {
  /** The species the model chooses between, sorted. */
  classes: string[];
  encoding: Encoding;
  train: EncodedSet;
  test: EncodedSet;
}

export function buildFeatureMatrix(train: readonly LabelledPenguin[], test: readonly LabelledPenguin[]): FeatureMatrix {
  const encoding = fitEncoding(train);
  const encodeSet = (penguins: readonly LabelledPenguin[]): EncodedSet => ({
    ids: penguins.map((p) => p.id),
    X: penguins.map((p) => encodePenguin(p, encoding)),
    y: penguins.map((p) => p.species),
  });
  return {
    classes: [...new Set(train.map((p) => p.species))].sort(),
    encoding,
    train: encodeSet(train),
    test: encodeSet(test),
  };
}
