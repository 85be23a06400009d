/**
 * Which targets of a build can be taken as up to date without computing their keys, given the
 * paths a stamp check found changed since the last successful build of the same request.
 *
 * A target is unchanged when it was built by that build with the key it still has on record,
 * none of its sources, outputs or step-module files changed, and none of its dependencies is
 * changed: then its inputs, code and outputs are what they were, so its key and result are too.
 * Everything else (and everything depending on it) goes through the normal path: keys, cache,
 * execution. With one leaf edited in a 10,000-step graph this re-keys 2 targets, not 10,001.
 *
 * Pure: paths in, labels out.
 */
import { OUTPUT_ROOT, outputDir, type BuildGraph } from "./action-graph.js";

export interface UnchangedTargetsInput {
  graph: BuildGraph;
  root: string;
  /** The labels of the build (its requested targets and their dependencies). */
  closure: readonly string[];
  /** Absolute paths found missing or changed in content. */
  changed: ReadonlySet<string>;
  /** Label -> key as the stamp's build finished them. */
  recordedKeys: ReadonlyMap<string, string>;
  /** Label -> key and output names as last built (any request). */
  lastResults: ReadonlyMap<string, { key: string; outputs: readonly { name: string }[] }>;
  /** Absolute paths of the step-module files a label's code is made of (none for `cmd`). */
  moduleFilesOf: (label: string) => readonly string[];
}

/**
 * What unchangedTargets looks up in a closure, made once per graph object and closure array: the
 * targets reading each source, each label's dependants, the step targets. A watch session keeps
 * both objects while nothing is loaded or resolved again, so its rebuilds skip the loop over
 * every input of 100,000 targets (~0.3 s) and pay only for what changed.
 */
interface ClosureIndex {
  /** Workspace-relative source path -> the closure's targets (not `files` ones) reading it. */
  readersOf: Map<string, string[]>;
  /** Label -> the closure's labels that depend on it directly. */
  dependantsOf: Map<string, string[]>;
  /** The closure's `step` targets. */
  steps: string[];
}

const indexes = new WeakMap<BuildGraph, WeakMap<readonly string[], ClosureIndex>>();

function closureIndex(graph: BuildGraph, closure: readonly string[]): ClosureIndex {
  let byClosure = indexes.get(graph);
  if (!byClosure) indexes.set(graph, (byClosure = new WeakMap()));
  const known = byClosure.get(closure);
  if (known) return known;
  const inClosure = new Set(closure);
  const readersOf = new Map<string, string[]>();
  const dependantsOf = new Map<string, string[]>();
  const steps: string[] = [];
  const add = (map: Map<string, string[]>, key: string, label: string) => {
    const list = map.get(key);
    if (!list) map.set(key, [label]);
    else if (list[list.length - 1] !== label) list.push(label);
  };
  for (const label of closure) {
    const target = graph.targets.get(label)!;
    for (const dep of target.deps) if (inClosure.has(dep)) add(dependantsOf, dep, label);
    // A files target runs nothing: its files are its dependants' sources, checked there.
    if (target.spec.action === "files") continue;
    if (target.spec.action === "step") steps.push(label);
    for (const inputs of Object.values(target.inputs)) {
      for (const resolved of inputs) if (resolved.kind === "source") add(readersOf, resolved.path, label);
    }
  }
  const index = { readersOf, dependantsOf, steps };
  byClosure.set(closure, index);
  return index;
}

/** The labels of `closure` that are unchanged; empty when a changed path belongs to no target. */
export function unchangedTargets(input: UnchangedTargetsInput): Set<string> {
  const { graph, root, closure } = input;
  // Compared as workspace-relative paths: no join per input of 10,000 targets.
  const changed = new Set<string>();
  for (const path of input.changed) {
    if (!path.startsWith(`${root}/`)) return new Set(); // outside the workspace: cannot be pinned
    changed.add(path.slice(root.length + 1));
  }
  const index = closureIndex(graph, closure);
  const changedTargets = new Set<string>();
  const attributed = new Set<string>();
  const touches = (path: string) => {
    if (!changed.has(path)) return false;
    attributed.add(path);
    return true;
  };
  // Only then are outputs' paths worth making: one string per output of 100,000 targets.
  const outputsChanged = [...changed].some((path) => path.startsWith(`${OUTPUT_ROOT}/`));
  for (const label of closure) {
    const target = graph.targets.get(label)!;
    if (target.spec.action === "files") continue;
    const last = input.lastResults.get(label);
    if (!last || input.recordedKeys.get(label) !== last.key) changedTargets.add(label);
    if (outputsChanged) {
      const dir = outputDir(target.pkg, target.name);
      for (const output of last?.outputs ?? []) if (touches(`${dir}/${output.name}`)) changedTargets.add(label);
    }
  }
  for (const path of changed) {
    const readers = index.readersOf.get(path);
    if (!readers) continue;
    attributed.add(path);
    for (const label of readers) changedTargets.add(label);
  }
  for (const label of index.steps) {
    for (const file of input.moduleFilesOf(label)) if (file.startsWith(`${root}/`) && touches(file.slice(root.length + 1))) changedTargets.add(label);
  }
  // A change kiln cannot pin on a target (a BUILD file, a directory): trust nothing.
  if (attributed.size < changed.size) return new Set();

  // Unchanged: not changed itself, and nothing it depends on in the closure changed. So the
  // changed targets and everything reaching them are not; a one-leaf edit walks two labels.
  const affected = new Set(changedTargets);
  const stack = [...changedTargets];
  while (stack.length > 0) {
    for (const dependant of index.dependantsOf.get(stack.pop()!) ?? []) {
      if (affected.has(dependant)) continue;
      affected.add(dependant);
      stack.push(dependant);
    }
  }
  const unchanged = new Set<string>();
  for (const label of closure) if (!affected.has(label)) unchanged.add(label);
  return unchanged;
}
