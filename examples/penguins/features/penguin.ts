/**
 * One penguin as the model side of the pipeline sees it: camelCase fields read from a row of
 * `//data:penguins` (whose columns keep the source's names, like "Beak Length (mm)").
 */

/** The numeric measurements, in the order they become features. */
export const MEASUREMENTS = ["beakLengthMm", "beakDepthMm", "flipperLengthMm", "bodyMassG"] as const;
export type Measurement = (typeof MEASUREMENTS)[number];

export interface Penguin extends Record<Measurement, number | null> {
  id: number;
  species: string | null;
  island: string | null;
  /** "MALE", "FEMALE" or null when unknown. */
  sex: string | null;
}

/** A row of `rows.jsonl`: the source's column names plus the `id` the dataset rule assigns. */
export type PenguinRow = Record<string, unknown> & { id: number };

const SOURCE_COLUMNS: Record<Measurement, string> = {
  beakLengthMm: "Beak Length (mm)",
  beakDepthMm: "Beak Depth (mm)",
  flipperLengthMm: "Flipper Length (mm)",
  bodyMassG: "Body Mass (g)",
};

/** The sexes the source records; anything else (one row says ".") means not determined. */
const KNOWN_SEXES = new Set(["MALE", "FEMALE"]);

export function toPenguin(row: PenguinRow): Penguin {
  const sex = stringOrNull(row["Sex"]);
  return {
    id: row.id,
    species: stringOrNull(row["Species"]),
    island: stringOrNull(row["Island"]),
    sex: sex !== null && KNOWN_SEXES.has(sex) ? sex : null,
    beakLengthMm: numberOrNull(row[SOURCE_COLUMNS.beakLengthMm]),
    beakDepthMm: numberOrNull(row[SOURCE_COLUMNS.beakDepthMm]),
    flipperLengthMm: numberOrNull(row[SOURCE_COLUMNS.flipperLengthMm]),
    bodyMassG: numberOrNull(row[SOURCE_COLUMNS.bodyMassG]),
  };
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}
