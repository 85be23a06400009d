/**
 * The action key: SHA-256 over the canonical JSON of one flat, sorted record. Every field is here
 * because changing it can change the outputs; nothing here names a machine (no absolute path,
 * user, host or cache location), so the same tree gives the same keys anywhere.
 */
import { canonicalJson } from "./canonical.js";
import { digestBytes } from "./digest.js";
import type { Json } from "../api/action-spec.js";

/** A SHA-256 over KeyIngredients, lowercase hex. Not a content digest. */
export type ActionKey = string & { readonly __brand: "ActionKey" };

export const KEY_FORMAT = "kiln.key/1";

export interface KeyIngredients {
  /** Bumped when the meaning of any field changes: old cache entries then simply miss. */
  format: typeof KEY_FORMAT;
  /** The target's label: a step sees it (ctx.label) and its output directory is named by it. */
  label: string;
  /** The rule called and the primitive it lowered to. */
  rule: string;
  action: string;
  /** step: digest of the module and its local imports, package versions, export name; cmd: the command. */
  code: string;
  /** The target's params, as given. */
  params: Json;
  /** (workspace-relative input path, content digest), sorted by path. */
  inputs: [string, string][];
  /** Set (true) when a cmd keeps the network: its result may depend on what it fetched. */
  network?: true;
  /** Declared outputs, sorted: another set of outputs is another action. */
  outs: string[];
  /** Environment variables the action sees beyond kiln's fixed ones, sorted. */
  env: [string, string][];
  /** (tool name, version line), sorted. */
  tools: [string, string][];
  /** OS, CPU architecture and Node major: outputs may differ across them. */
  platform: string;
}

export function computeKey(ingredients: KeyIngredients): ActionKey {
  return digestBytes(encodeIngredients(ingredients)) as string as ActionKey;
}

/**
 * canonicalJson(ingredients), written out for this one shape: keys in sorted order, and the
 * arrays of strings and string pairs (already canonical) handed to JSON.stringify whole. The
 * generic encoder was the largest cost of a no-op build; a test keeps the two identical.
 */
export function encodeIngredients(i: KeyIngredients): string {
  const s = JSON.stringify;
  return (
    `{"action":${s(i.action)},"code":${s(i.code)},"env":${s(i.env)},"format":${s(i.format)},` +
    `"inputs":${s(i.inputs)},"label":${s(i.label)},${i.network ? `"network":true,` : ""}"outs":${s(i.outs)},"params":${canonicalJson(i.params)},` +
    `"platform":${s(i.platform)},"rule":${s(i.rule)},"tools":${s(i.tools)}}`
  );
}

/** Field by field, what changed between two runs of a target; for `--explain` and `kiln why`. */
export function describeKeyChanges(before: KeyIngredients | undefined, after: KeyIngredients): string[] {
  if (!before) return ["no earlier run of this target in the cache"];
  if (before.format !== after.format) return [`kiln's key format changed (${before.format} -> ${after.format})`];
  const changes: string[] = [];
  if (before.rule !== after.rule || before.action !== after.action) changes.push(`rule: ${before.rule} -> ${after.rule}`);
  if (before.code !== after.code) changes.push(after.action === "cmd" ? "command text changed" : "code changed (the module or a local file it imports)");
  if (canonicalJson(before.params) !== canonicalJson(after.params)) {
    changes.push(...describeJsonChanges("params", before.params, after.params));
  }
  const oldInputs = new Map(before.inputs);
  const newInputs = new Map(after.inputs);
  for (const [path, digest] of after.inputs) {
    const old = oldInputs.get(path);
    if (old === undefined) changes.push(`input added: ${path}`);
    else if (old !== digest) changes.push(`input changed: ${path}`);
  }
  for (const [path] of before.inputs) if (!newInputs.has(path)) changes.push(`input removed: ${path}`);
  if (canonicalJson(before.outs) !== canonicalJson(after.outs)) changes.push(`outputs: [${before.outs}] -> [${after.outs}]`);
  if (canonicalJson(before.env) !== canonicalJson(after.env)) changes.push("environment changed");
  const oldTools = new Map(before.tools);
  for (const [name, version] of after.tools) {
    if (oldTools.get(name) !== version) changes.push(`tool ${name}: ${oldTools.get(name) ?? "(none)"} -> ${version}`);
  }
  if (before.platform !== after.platform) changes.push(`platform: ${before.platform} -> ${after.platform}`);
  if (before.label !== after.label) changes.push(`label: ${before.label} -> ${after.label}`);
  return changes.length > 0 ? changes : ["nothing differs from the last cached run (the cache entry was missing or corrupt)"];
}

export function describeJsonChanges(path: string, before: Json | undefined, after: Json | undefined): string[] {
  const isObject = (v: unknown): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) =>
      canonicalJson(before[k]) === canonicalJson(after[k]) ? [] : describeJsonChanges(`${path}.${k}`, before[k], after[k]),
    );
  }
  const show = (v: Json | undefined) => (v === undefined ? "(unset)" : JSON.stringify(v));
  return [`${path}: ${show(before)} -> ${show(after)}`];
}
