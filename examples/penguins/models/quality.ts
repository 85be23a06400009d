/**
 * `//models:quality`: a test that fails when the classifier's test accuracy drops below the bar.
 */
import type { StepContext } from "kiln";
import { z } from "zod";
import { readJson } from "../lib/json-files.ts";
import { inputNamed } from "../lib/step-inputs.ts";
import type { ClassificationMetrics } from "./metrics.ts";

const QualityParams = z.strictObject({ minAccuracy: z.number().min(0).max(1) });

export async function checkAccuracy(ctx: StepContext): Promise<void> {
  const { minAccuracy } = QualityParams.parse(ctx.params);
  const metrics = await readJson<ClassificationMetrics>(inputNamed(ctx, "metrics", "metrics.json"));
  const problem = accuracyProblem(metrics, minAccuracy);
  if (problem !== undefined) throw new Error(problem);
  ctx.log(`test accuracy ${formatPercent(metrics.accuracy)} >= ${formatPercent(minAccuracy)}`);
}

/** Why `metrics` fails the bar, or undefined when it passes. */
export function accuracyProblem(metrics: ClassificationMetrics, minAccuracy: number): string | undefined {
  if (metrics.accuracy >= minAccuracy) return undefined;
  const missed = Object.entries(metrics.perClass)
    .filter(([, m]) => m.recall < 1)
    .map(([label, m]) => `${label} recall ${formatPercent(m.recall)}`);
  return (
    `test accuracy ${formatPercent(metrics.accuracy)} is below the required ${formatPercent(minAccuracy)} ` +
    `(${metrics.nTest} test penguins${missed.length > 0 ? `; ${missed.join(", ")}` : ""})`
  );
}

function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}
