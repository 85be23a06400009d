/**
 * The built-in rules. They use only what users have: `defineRule` and the ActionSpec primitives.
 */
import { z } from "zod";
import { defineRule } from "../src/api/rule.js";
import type { Json } from "../src/api/action-spec.js";
import { canonicalJson } from "../src/key/canonical.js";
import { digestBytes } from "../src/key/digest.js";

/** An identifier usable as `ctx.srcs.<name>`. */
const srcName = z.string().regex(/^[A-Za-z_$][A-Za-z0-9_$-]*$/, "input names are identifiers");
const srcRef = z.string().min(1, "an input reference cannot be empty");
const srcList = z.union([srcRef, z.array(srcRef)]);
const namedSrcs = z.record(srcName, srcList);
const outName = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes("..") && !p.endsWith("/"), {
    message: "outputs are relative file paths inside the target's output directory",
  });
const outs = z.array(outName).refine((list) => new Set(list).size === list.length, { message: "outputs must be unique" });
const runRef = z.string().regex(/^[^#]+#[A-Za-z_$][A-Za-z0-9_$]*$/, 'run is "./module.ts#exportName"');
const env = z.union([z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()), z.array(z.string())]);
const join = z.strictObject({ left: srcName, right: srcName });
/** Outputs holding metrics (JSON): each must be one of `outs`. */
const metrics = z.array(outName).optional();
const metricsAreOutputs: [(a: { outs: string[]; metrics?: string[] }) => boolean, { message: string; path: string[] }] = [
  (a) => (a.metrics ?? []).every((m) => a.outs.includes(m)),
  { message: "every file in metrics must be one of outs", path: ["metrics"] },
];

function toLists(srcs: Record<string, string | string[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(srcs).map(([name, refs]) => [name, typeof refs === "string" ? [refs] : refs]));
}

function splitEnv(value: z.infer<typeof env> | undefined) {
  if (value === undefined) return {};
  return Array.isArray(value) ? { passEnv: [...value].sort() } : { env: value };
}

/** A TypeScript function run in a step runner process, in a sandbox holding only its inputs. */
export const step = defineRule(
  "step",
  z.strictObject({
    srcs: namedSrcs.default({}),
    outs: outs,
    run: runRef,
    params: z.json().optional(),
    env: env.optional(),
    joins: z.array(join).optional(),
    metrics,
  }).refine(...metricsAreOutputs),
  (a) => ({
    rule: "step",
    action: "step",
    srcs: toLists(a.srcs),
    outs: a.outs,
    run: a.run,
    params: a.params ?? null,
    ...splitEnv(a.env),
    ...(a.joins ? { joins: a.joins } : {}),
    ...(a.metrics ? { metrics: [...a.metrics].sort() } : {}),
  }),
);

/** A shell command run in a sandbox holding only its inputs. */
export const cmd = defineRule(
  "cmd",
  z.strictObject({
    srcs: z.union([namedSrcs, z.array(srcRef)]).default({}),
    outs: outs,
    cmd: z.string().min(1),
    tools: z.array(z.string().regex(/^[A-Za-z0-9_.+-]+$/, "tools are program names found on PATH")).default([]),
    env: env.optional(),
    /** Keep the network inside the namespace sandbox (downloads): less hermetic, and results say so. */
    network: z.boolean().default(false),
    metrics,
  }).refine(...metricsAreOutputs),
  (a) => ({
    rule: "cmd",
    action: "cmd",
    srcs: Array.isArray(a.srcs) ? { srcs: a.srcs } : toLists(a.srcs),
    outs: a.outs,
    cmd: a.cmd,
    tools: [...a.tools].sort(),
    ...(a.network ? { network: true } : {}),
    ...(a.metrics ? { metrics: [...a.metrics].sort() } : {}),
    ...splitEnv(a.env),
  }),
);

/** A named group of source files; dependants see them at their workspace paths. */
export const files = defineRule(
  "files",
  z.strictObject({ srcs: z.union([z.array(srcRef), srcRef]) }),
  (a) => ({ rule: "files", action: "files", srcs: { srcs: typeof a.srcs === "string" ? [a.srcs] : a.srcs }, outs: [] }),
);

/** A step whose function asserts. `kiln test` runs it; a pass is cached like any output. */
export const test = defineRule(
  "test",
  z.strictObject({ srcs: namedSrcs.default({}), run: runRef, params: z.json().optional(), env: env.optional() }),
  (a) => ({
    rule: "test",
    action: "step",
    srcs: toLists(a.srcs),
    outs: [],
    run: a.run,
    params: a.params ?? null,
    test: true,
    ...splitEnv(a.env),
  }),
);

const zodSchema = z.custom<z.ZodType>(
  (value) => typeof value === "object" && value !== null && "_zod" in value,
  "schema must be a zod schema, e.g. z.object({ ... })",
);

/**
 * Streams CSV, JSON, JSONL or Parquet through a zod schema, row by row, into normalised JSONL
 * (`rows.jsonl`) or Parquet (`rows.parquet`, with `out: "parquet"`). `index` names the key column
 * and the entity it identifies. The schema drives how CSV text becomes values; `nulls` lists the
 * CSV cells that mean null in a nullable column (only the empty cell unless given, so "NA" is
 * text unless said); reading stops after `maxErrors` bad rows with a count and a sample.
 */
export const dataset = defineRule(
  "dataset",
  z.strictObject({
    src: srcRef,
    format: z.enum(["csv", "json", "jsonl", "parquet"]),
    schema: zodSchema,
    index: z.strictObject({ column: z.string().min(1), entity: z.string().min(1) }),
    out: z.enum(["jsonl", "parquet"]).default("jsonl"),
    nulls: z.array(z.string()).optional(),
    maxErrors: z.int().positive().optional(),
  }),
  (a) => {
    const jsonSchema = z.toJSONSchema(a.schema) as z.core.JSONSchema.BaseSchema as Json;
    return {
      rule: "dataset",
      action: "step",
      srcs: { data: [a.src] },
      outs: [a.out === "parquet" ? "rows.parquet" : "rows.jsonl"],
      run: "kiln:rules/dataset/run.js#runDataset",
      params: {
        format: a.format,
        schema: jsonSchema,
        // The schema's own digest, in the key beside the schema and in the output's metadata.
        schemaDigest: digestBytes(canonicalJson(jsonSchema)),
        index: a.index,
        ...(a.out === "parquet" ? { out: a.out } : {}),
        ...(a.nulls ? { nulls: a.nulls } : {}),
        ...(a.maxErrors ? { maxErrors: a.maxErrors } : {}),
      },
      index: a.index,
    };
  },
);
