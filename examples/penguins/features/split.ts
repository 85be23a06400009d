/**
 * `//features:split`: drops penguins the model cannot use, then splits the rest into train and
 * test sets, stratified by species. Outputs are subsets of `rows.jsonl`, rows unchanged.
 */
import type { StepContext } from "kiln";
import { z } from "zod";
import { readJsonl, writeJsonl } from "../lib/json-files.ts";
import { singleInput } from "../lib/step-inputs.ts";
import { toPenguin, type PenguinRow } from "./penguin.ts";
import { seededRandom } from "./seeded-random.ts";
import { selectUsablePenguins, stratifiedSplit } from "./split-rows.ts";

const SplitParams = z.strictObject({
  testFraction: z.number().gt(0).lt(1),
  seed: z.int(),
});

export async function split(ctx: StepContext): Promise<void> {
  const params = SplitParams.parse(ctx.params);
  const rows = await readJsonl<PenguinRow>(singleInput(ctx, "rows"));
  const rowById = new Map(rows.map((row) => [row.id, row]));

  const { usable, withoutSpecies, withoutMeasurements } = selectUsablePenguins(rows.map(toPenguin));
  if (withoutSpecies.length > 0) ctx.log(`dropped ${withoutSpecies.length} without species: ids ${withoutSpecies.join(", ")}`);
  if (withoutMeasurements.length > 0) {
    ctx.log(`dropped ${withoutMeasurements.length} without measurements: ids ${withoutMeasurements.join(", ")}`);
  }

  const { train, test } = stratifiedSplit(usable, (p) => p.species, params.testFraction, seededRandom(params.seed));
  ctx.log(`${train.length} train, ${test.length} test (test fraction ${params.testFraction}, seed ${params.seed})`);
  await writeJsonl(ctx.out("train.jsonl"), train.map((p) => rowById.get(p.id)));
  await writeJsonl(ctx.out("test.jsonl"), test.map((p) => rowById.get(p.id)));
}
