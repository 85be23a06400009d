/**
 * What a build read, indexed for watching: which files and directories matter, and which
 * targets an edit makes obsolete (those reading the file, the targets of an edited BUILD.ts,
 * the targets whose glob covers a new or removed file), with every target depending on them.
 * Pure: built from the graph and the lists the session returns.
 */
import { posix } from "node:path";
import type { BuildGraph } from "../graph/action-graph.js";

export interface ReadIndex {
  /** Absolute files whose content the build used. */
  files: ReadonlySet<string>;
  /** Absolute directories where a new or removed file can change the graph (glob roots). */
  globDirectories: ReadonlySet<string>;
  /** Labels an event at `path` makes obsolete, dependants included; undefined: all of them. */
  affected(path: string): Set<string> | undefined;
}

export interface ReadLists {
  root: string;
  graph: BuildGraph;
  closure: readonly string[];
  /** BUILD.ts, WORKSPACE.ts and what they import (absolute). */
  loadFiles: readonly string[];
  /** Step modules' files of the closure (absolute). */
  stepModuleFiles: ReadonlyMap<string, readonly string[]>;
  /** Files of path sources (absolute), by source name. */
  sourceFiles: ReadonlyMap<string, readonly string[]>;
}

export function indexReads(lists: ReadLists): ReadIndex {
  const { root, graph, closure } = lists;
  const inClosure = new Set(closure);
  const readers = new Map<string, Set<string>>();
  const addReader = (file: string, label: string) => {
    const set = readers.get(file);
    if (set) set.add(label);
    else readers.set(file, new Set([label]));
  };
  const globDirectories = new Map<string, Set<string>>();
  const dependants = new Map<string, string[]>();
  for (const label of closure) {
    const target = graph.targets.get(label)!;
    for (const dep of target.deps) if (inClosure.has(dep)) (dependants.get(dep) ?? dependants.set(dep, []).get(dep)!).push(label);
    addReader(posix.join(root, target.pkg, "BUILD.ts"), label);
    for (const inputs of Object.values(target.inputs)) {
      for (const input of inputs) {
        if (input.kind === "source") addReader(posix.join(root, input.path), label);
        else if (input.kind === "external") for (const file of lists.sourceFiles.get(input.name) ?? []) addReader(file, label);
      }
    }
    for (const refs of Object.values(target.spec.srcs)) {
      for (const ref of refs) {
        if (!/[*?[\]{}]/.test(ref)) continue;
        // The directory part before the first wildcard: new files can only appear below it.
        const fixed = ref.split("/").filter((_, i, parts) => !parts.slice(0, i + 1).some((part) => /[*?[\]{}]/.test(part)));
        const dir = posix.join(root, target.pkg, ...fixed);
        (globDirectories.get(dir) ?? globDirectories.set(dir, new Set()).get(dir)!).add(label);
      }
    }
  }
  for (const [label, files] of lists.stepModuleFiles) for (const file of files) addReader(file, label);
  const loadFiles = new Set(lists.loadFiles);
  const files = new Set([...readers.keys(), ...loadFiles]);

  const withDependants = (labels: Iterable<string>) => {
    const all = new Set<string>();
    const queue = [...labels];
    while (queue.length > 0) {
      const label = queue.pop()!;
      if (all.has(label)) continue;
      all.add(label);
      queue.push(...(dependants.get(label) ?? []));
    }
    return all;
  };
  return {
    files,
    globDirectories: new Set(globDirectories.keys()),
    affected(path) {
      const direct = new Set(readers.get(path) ?? []);
      // A file BUILD.ts files import (WORKSPACE.ts, a shared helper): any target may change.
      if (loadFiles.has(path) && !path.endsWith("/BUILD.ts")) return undefined;
      if (posix.basename(path) === "BUILD.ts" && !readers.has(path)) return undefined; // a new package
      for (const [dir, labels] of globDirectories) if (path.startsWith(`${dir}/`)) for (const label of labels) direct.add(label);
      return withDependants(direct);
    },
  };
}
