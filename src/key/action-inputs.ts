/**
 * A target's key ingredients, gathered: the digest of every input (sources through the stat
 * cache, `@source` files as resolved, dependencies' outputs as they were built or restored), the
 * code identity, env, tools and platform, and the key over them (action-key.ts). Also what
 * executing it needs and would otherwise recompute: each named input's paths, and the step
 * module's bundle. The only I/O is the stat cache's digests of source files.
 */
import { join } from "node:path";
import type { ActionOrigins, OutputRecord } from "../cache/local-store.js";
import type { BuildGraph, GraphTarget } from "../graph/action-graph.js";
import { outputDir } from "../graph/action-graph.js";
import type { ResolvedSource } from "../lock/sources.js";
import type { StatCache } from "../state/stat-cache.js";
import { KILN_ROOT } from "../kiln-install.js";
import { joinRelative } from "../join-relative.js";
import { resolveRunReference } from "../exec/run-ref.js";
import type { Tool } from "../exec/tools.js";
import { computeKey, KEY_FORMAT, type ActionKey, type KeyIngredients } from "./action-key.js";
import type { ContentDigest } from "./digest.js";
import type { StepModule } from "./step-bundle.js";

export interface ActionInput {
  /** Path inside the sandbox = workspace-relative path. */
  path: string;
  digest: ContentDigest;
  /** Where to take the bytes from when laying out a sandbox. */
  from: string;
  /**
   * A user's source or a dependency's output. Flat, with `size`, not an owner object: an
   * aggregator has 100,000 inputs, and every object per input is one more for the collector.
   */
  kind: "source" | "output";
  size: number;
}

/** A target ready to look up or run: its key and everything the key was made of. */
export interface PreparedAction {
  key: ActionKey;
  ingredients: KeyIngredients;
  /** Inputs in declaration order, per srcs name. */
  named: Map<string, { inputs: ActionInput[]; single: boolean }>;
  origins: ActionOrigins;
  /** For a `step`: the bundle that runs and the export it calls (resolved once, here). */
  stepCode?: { bundlePath: string; exportName: string };
}

/** What keying needs that lives beyond one target: the workspace's, the build's. */
export interface KeyContext {
  root: string;
  graph: BuildGraph;
  statCache: StatCache;
  stepModules: ReadonlyMap<string, StepModule>;
  tools: ReadonlyMap<string, Tool>;
  hostEnv: NodeJS.ProcessEnv;
  platform: string;
  /** The `@source`s the graph's targets read, resolved to files (lock/build-sources.ts). */
  sources?: ReadonlyMap<string, ResolvedSource>;
}

/** A finished dependency: the key it was built or restored with and its outputs. */
export interface FinishedDependency {
  key: string;
  outputs: readonly OutputRecord[];
}

/** Digests every input of `target` and computes its key. */
export async function prepareAction(
  target: GraphTarget,
  context: KeyContext,
  finished: ReadonlyMap<string, FinishedDependency>,
): Promise<PreparedAction> {
  const named = new Map<string, { inputs: ActionInput[]; single: boolean }>();
  // Every (input path, digest) in declaration order; the key takes them one a path, sorted.
  const pathDigests: [string, ContentDigest][] = [];
  const origins: ActionOrigins = { deps: [], sources: {} };
  // A Set beside the list: an aggregator over 10,000 targets would scan it 10,000 times.
  const depsRecorded = new Set<string>();
  for (const [name, resolved] of Object.entries(target.inputs)) {
    const inputs: ActionInput[] = [];
    for (const input of resolved) {
      if (input.kind === "source") {
        const from = joinRelative(context.root, input.path);
        const { digest, size } = await context.statCache.digest(from);
        inputs.push({ path: input.path, digest, from, kind: "source", size });
      } else if (input.kind === "external") {
        const source = context.sources?.get(input.name);
        if (!source) throw new Error(`source @${input.name} was not resolved for ${target.label}`);
        origins.sources[input.name] = source.entry;
        for (const file of source.files) {
          inputs.push({ path: file.path, digest: file.digest, from: file.from, kind: "source", size: file.size });
        }
      } else {
        const dependency = finished.get(input.label);
        if (dependency && !depsRecorded.has(input.label)) {
          depsRecorded.add(input.label);
          origins.deps.push([input.label, dependency.key]);
        }
        const dep = context.graph.targets.get(input.label)!;
        const dir = outputDir(dep.pkg, dep.name);
        for (const record of dependency?.outputs ?? []) {
          // Materialized before the dependant became ready, from a verified blob or by this build.
          const path = `${dir}/${record.name}`;
          inputs.push({ path, digest: record.digest, from: joinRelative(context.root, path), kind: "output", size: record.size });
        }
      }
    }
    for (const input of inputs) pathDigests.push([input.path, input.digest]);
    const refs = target.spec.srcs[name] ?? [];
    const single = refs.length === 1 && !/[*?[\]{}]/.test(refs[0]!) && inputs.length === 1;
    named.set(name, { inputs, single });
  }
  const spec = target.spec;
  let code: string;
  let stepCode: PreparedAction["stepCode"];
  if (spec.action === "cmd") code = spec.cmd!;
  else {
    const ref = resolveRunReference(context.root, target.pkg, spec.run!);
    const module = context.stepModules.get(ref.entry)!;
    code = `${module.codeDigest}#${ref.exportName}`;
    stepCode = { bundlePath: module.bundlePath, exportName: ref.exportName };
    origins.code = module.files.map(([file, digest]) => [portableCodePath(context.root, file), digest] as [string, string]);
  }
  sortByFirstUnlessSorted(origins.deps);
  origins.definition = await definitionFiles(target, context, Object.keys(origins.sources).length > 0);
  const env = sandboxEnvFor(spec.env, spec.passEnv, context.hostEnv);
  const ingredients: KeyIngredients = {
    format: KEY_FORMAT,
    label: target.label,
    rule: spec.rule,
    action: spec.action,
    code,
    params: spec.params ?? null,
    inputs: uniqueSortedByPath(pathDigests),
    outs: [...spec.outs].sort(),
    env: Object.entries(env).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    tools: (spec.tools ?? []).map((name) => [name, context.tools.get(name)!.version] as [string, string]),
    platform: context.platform,
  };
  if (spec.network) ingredients.network = true;
  const prepared: PreparedAction = { key: computeKey(ingredients), ingredients, named, origins };
  if (stepCode) prepared.stepCode = stepCode;
  return prepared;
}

/**
 * Sorts pairs with unique first elements by them, in place, after a look whether they are sorted
 * already: an aggregator's inputs and dependencies usually come in label order, which is path
 * order, and sorting 100,000 long paths that share their prefixes took ~0.1 s.
 */
function sortByFirstUnlessSorted<T extends [string, string]>(pairs: T[]): T[] {
  return strictlyAscending(pairs) ? pairs : pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function strictlyAscending(pairs: readonly [string, string][]): boolean {
  for (let i = 1; i < pairs.length; i++) if (pairs[i - 1]![0] >= pairs[i]![0]) return false;
  return true;
}

/**
 * The key's (path, digest) list from every input in declaration order: one pair a path (the last
 * digest named for it, as a Map keeps it), sorted by path. Pairs already strictly ascending have
 * no path twice and are the answer as they are, with no Map of 100,000 paths made to find that.
 */
export function uniqueSortedByPath(pairs: [string, ContentDigest][]): [string, string][] {
  return strictlyAscending(pairs) ? pairs : sortByFirstUnlessSorted([...new Map(pairs)]);
}

/**
 * The files that define `target` (for provenance, not the key: a comment edited in BUILD.ts must
 * not rerun a step): its package's BUILD.ts, WORKSPACE.ts and, when it reads sources, kiln.lock,
 * each digested through the stat cache. A file that is not there (no kiln.lock yet) is left out.
 */
async function definitionFiles(target: GraphTarget, context: KeyContext, readsSources: boolean): Promise<[string, string][]> {
  const names = [target.pkg === "" ? "BUILD.ts" : `${target.pkg}/BUILD.ts`, "WORKSPACE.ts", ...(readsSources ? ["kiln.lock"] : [])];
  const files: [string, string][] = [];
  for (const name of names.sort()) {
    try {
      files.push([name, (await context.statCache.digest(join(context.root, name))).digest]);
    } catch {
      // not there: nothing to name
    }
  }
  return files;
}

/**
 * A code file's name for provenance, free of machine paths: workspace-relative; `kiln:<path>` for
 * kiln's own files; `node_modules/<package>/...` for an installed package's (its package.json
 * carries the version).
 */
function portableCodePath(root: string, file: string): string {
  const packages = file.lastIndexOf("/node_modules/");
  if (packages !== -1) return file.slice(packages + 1);
  if (file.startsWith(`${root}/`)) return file.slice(root.length + 1);
  if (file.startsWith(`${KILN_ROOT}/`)) return `kiln:${file.slice(KILN_ROOT.length + 1)}`;
  return file;
}

/** The variables a step declared (`env`) and those it passes through from the host (`passEnv`). */
function sandboxEnvFor(env: Record<string, string> | undefined, passEnv: string[] | undefined, hostEnv: NodeJS.ProcessEnv): Record<string, string> {
  const result: Record<string, string> = { ...(env ?? {}) };
  for (const name of passEnv ?? []) result[name] = hostEnv[name] ?? "";
  return result;
}
