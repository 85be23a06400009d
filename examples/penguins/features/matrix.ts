/**
 * `//features:matrix`: encodes the split into matrix.json (see feature-matrix.ts for its shape).
 */
import type { StepContext } from "kiln";
import { readJsonl, writeJson } from "../lib/json-files.ts";
import { inputNamed } from "../lib/step-inputs.ts";
import { buildFeatureMatrix } from "./feature-matrix.ts";
import { toPenguin, type PenguinRow } from "./penguin.ts";
import { selectUsablePenguins, type LabelledPenguin } from "./split-rows.ts";

export async function buildMatrix(ctx: StepContext): Promise<void> {
  const train = await readLabelled(ctx, "train.jsonl");
  const test = await readLabelled(ctx, "test.jsonl");
  const matrix = buildFeatureMatrix(train, test);
  ctx.log(`${matrix.encoding.featureNames.length} features: ${matrix.encoding.featureNames.join(", ")}`);
  await writeJson(ctx.out("matrix.json"), matrix);
}

async function readLabelled(ctx: StepContext, fileName: string): Promise<LabelledPenguin[]> {
  const rows = await readJsonl<PenguinRow>(inputNamed(ctx, "split", fileName));
  // The split kept only usable penguins; selecting again just gives them their labelled type.
  const { usable, withoutSpecies, withoutMeasurements } = selectUsablePenguins(rows.map(toPenguin));
  if (withoutSpecies.length + withoutMeasurements.length > 0) {
    throw new Error(`${fileName} holds penguins the split should have dropped: ids ${[...withoutSpecies, ...withoutMeasurements].join(", ")}`);
  }
  return usable;
}
