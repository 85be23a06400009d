/**
 * `//models:classifier`: trains the softmax regression on matrix.json; writes model.json and
 * metrics.json (test-set metrics; see metrics.ts for the shape).
 */
import type { StepContext } from "kiln";
import { z } from "zod";
import type { FeatureMatrix } from "../features/feature-matrix.ts";
import { readJson, writeJson } from "../lib/json-files.ts";
import { singleInput } from "../lib/step-inputs.ts";
import { trainClassifier } from "./classifier.ts";

const TrainParams = z.strictObject({
  learningRate: z.number().positive(),
  epochs: z.int().positive(),
  l2: z.number().nonnegative(),
});

export async function train(ctx: StepContext): Promise<void> {
  const options = TrainParams.parse(ctx.params);
  const matrix = await readJson<FeatureMatrix>(singleInput(ctx, "matrix"));
  const logEvery = Math.max(1, Math.round(options.epochs / 5));
  const { model, metrics } = trainClassifier(matrix, options, (epoch, loss) => {
    if (epoch % logEvery === 0) ctx.log(`epoch ${epoch}: loss ${loss.toFixed(4)}`);
  });
  ctx.log(`final loss ${model.training.finalLoss.toFixed(4)}; accuracy: train ${metrics.trainAccuracy.toFixed(4)}, test ${metrics.accuracy.toFixed(4)}`);
  await writeJson(ctx.out("model.json"), model);
  await writeJson(ctx.out("metrics.json"), metrics);
}
