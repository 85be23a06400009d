import { cmd, step } from "kiln";

/** Train and test sets (stratified by species, seeded), as subsets of //data:penguins's rows. */
export const split = step({
  srcs: { rows: "//data:penguins" },
  outs: ["train.jsonl", "test.jsonl"],
  run: "./split.ts#split",
  params: { testFraction: 0.25, seed: 42 },
});

/** matrix.json: imputed, one-hot encoded and standardised features, fitted on the train set. */
export const matrix = step({
  srcs: { split: ":split" },
  outs: ["matrix.json"],
  run: "./matrix.ts#buildMatrix",
});

/** summary.json: per-species statistics of the whole table, computed by a Python script. */
export const summary = cmd({
  srcs: { rows: "//data:penguins", script: "summary.py" },
  outs: ["summary.json"],
  tools: ["python3"],
  cmd: "python3 features/summary.py kiln-out/data/penguins/rows.jsonl > $OUT/summary.json",
});
