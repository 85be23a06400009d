/**
 * The built-in rules. They use only what users have: `defineRule` and the ActionSpec primitives.
 */
import { z } from "zod";
import { defineRule } from "../src/api/rule.js";

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
  }),
  (a) => ({
    rule: "step",
    action: "step",
    srcs: toLists(a.srcs),
    outs: a.outs,
    run: a.run,
    params: a.params ?? null,
    ...splitEnv(a.env),
    ...(a.joins ? { joins: a.joins } : {}),
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
  }),
  (a) => ({
    rule: "cmd",
    action: "cmd",
    srcs: Array.isArray(a.srcs) ? { srcs: a.srcs } : toLists(a.srcs),
    outs: a.outs,
    cmd: a.cmd,
    tools: [...a.tools].sort(),
    ...(a.network ? { network: true } : {}),
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
 * Parses CSV, JSON or JSONL and validates every row against a zod schema; writes normalised
 * JSONL (`rows.jsonl`). `index` names the key column and the entity it identifies.
 */
export const dataset = defineRule(
  "dataset",
  z.strictObject({
    src: srcRef,
    format: z.enum(["csv", "json", "jsonl"]),
    schema: zodSchema,
    index: z.strictObject({ column: z.string().min(1), entity: z.string().min(1) }),
  }),
  (a) => ({
    rule: "dataset",
    action: "step",
    srcs: { data: [a.src] },
    outs: ["rows.jsonl"],
    run: "kiln:rules/dataset/run.js#runDataset",
    params: { format: a.format, schema: z.toJSONSchema(a.schema) as z.core.JSONSchema.BaseSchema as never, index: a.index },
    index: a.index,
  }),
);
