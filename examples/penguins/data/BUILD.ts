import { dataset } from "kiln";
import { z } from "zod";

/** A measurement the source may lack (two penguins have none recorded). */
const measurement = z.number().positive().nullable();
const wholeMeasurement = z.int().positive().nullable();

/** The Palmer penguins table, validated and numbered: `rows.jsonl`, one penguin a line, keyed by `id`. */
export const penguins = dataset({
  src: "@penguins",
  format: "json",
  schema: z.object({
    Species: z.enum(["Adelie", "Chinstrap", "Gentoo"]),
    Island: z.enum(["Biscoe", "Dream", "Torgersen"]),
    "Beak Length (mm)": measurement,
    "Beak Depth (mm)": measurement,
    "Flipper Length (mm)": wholeMeasurement,
    "Body Mass (g)": wholeMeasurement,
    // One record (row 337) says "." where the sex was not determined; features/ reads it as unknown.
    Sex: z.enum(["MALE", "FEMALE", "."]).nullable(),
  }),
  index: { column: "id", entity: "penguin" },
});
