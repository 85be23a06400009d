import { step, test } from "kiln";

/** A softmax regression on //features:matrix: model.json and metrics.json (test-set metrics). */
export const classifier = step({
  srcs: { matrix: "//features:matrix" },
  outs: ["model.json", "metrics.json"],
  // `kiln release --diff` and `kiln metrics diff` compare it between builds.
  metrics: ["metrics.json"],
  run: "./train.ts#train",
  params: { learningRate: 0.1, epochs: 500, l2: 0.001 },
});

/** Fails when test accuracy falls below the bar. */
export const quality = test({
  srcs: { metrics: ":classifier" },
  run: "./quality.ts#checkAccuracy",
  params: { minAccuracy: 0.9 },
});
