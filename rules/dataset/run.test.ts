import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import type { StepContext } from "../../src/api/step-context.js";
import { runDataset } from "./run.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kiln-dataset-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A context like the worker's, with params as rules/index.ts lowers `dataset()` to. */
function contextFor(source: string, schema: z.ZodType, extra: Record<string, unknown> = {}): StepContext & { logged: string[] } {
  const logged: string[] = [];
  return {
    label: "//data:penguins",
    srcs: { data: source },
    params: { format: "csv", schema: z.toJSONSchema(schema), index: { column: "id", entity: "penguin" }, ...extra },
    out: (name) => join(dir, name),
    log: (...args) => logged.push(args.join(" ")),
    seed: 1,
    random: () => 0.5,
    readParquet: () => {
      throw new Error("not used here");
    },
    logged,
  };
}

const schema = z.object({ species: z.enum(["Adelie", "Gentoo"]), mass: z.int().nullable() });

describe("runDataset", () => {
  it("writes rows.jsonl with the index column and logs the count and the source's digest", async () => {
    const source = join(dir, "penguins.csv");
    await writeFile(source, "species,mass\nAdelie,3750\nGentoo,NA\n");
    const ctx = contextFor(source, schema, { nulls: ["NA"] });
    await runDataset(ctx);
    expect(await readFile(join(dir, "rows.jsonl"), "utf8")).toBe(
      '{"id":1,"species":"Adelie","mass":3750}\n{"id":2,"species":"Gentoo","mass":null}\n',
    );
    expect(ctx.logged).toEqual([expect.stringMatching(/^penguins\.csv: 2 rows valid \(source sha256 [0-9a-f]{64}\)$/)]);
  });

  it("names the file, row, line, column and field of an invalid row, without a stack", async () => {
    const source = join(dir, "penguins.csv");
    await writeFile(source, "species,mass\nAdelie,3750\nEmperor,\n");
    const failure = await runDataset(contextFor(source, schema)).catch((error: Error) => error);
    expect((failure as Error).message).toBe('penguins.csv: row 2 (line 3, column 1): field "species": Invalid option: expected one of "Adelie"|"Gentoo"');
    expect((failure as Error).stack).toBe((failure as Error).message);
  });
});
