/**
 * `//reports:report`: renders report.html from the classifier's outputs and the data summary.
 */
import { writeFile } from "node:fs/promises";
import type { StepContext } from "kiln";
import { readJson } from "../lib/json-files.ts";
import { inputNamed } from "../lib/step-inputs.ts";
import type { ModelFile } from "../models/classifier.ts";
import type { ClassificationMetrics } from "../models/metrics.ts";
import { renderReport } from "./render-report.ts";
import type { DataSummary } from "./summary-file.ts";

export async function render(ctx: StepContext): Promise<void> {
  const html = renderReport({
    metrics: await readJson<ClassificationMetrics>(inputNamed(ctx, "classifier", "metrics.json")),
    model: await readJson<ModelFile>(inputNamed(ctx, "classifier", "model.json")),
    summary: await readJson<DataSummary>(inputNamed(ctx, "summary", "summary.json")),
  });
  await writeFile(ctx.out("report.html"), html);
}
