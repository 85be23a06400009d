/**
 * Whole-graph walks over a dependency graph given as a node list and a `deps` function: cycle
 * detection, topological order and critical-path lengths. Every walk is an iterative depth-first
 * search (graphs have tens of thousands of nodes, so no recursion) that visits nodes and each node's
 * dependencies in sorted order, so results never depend on declaration order. Nodes reached through
 * `deps` belong to the graph even when they are not listed in `nodes`.
 */

/** Thrown by {@link topoOrder} and {@link longestPathToSink} when the graph has a cycle. */
export class CycleError extends Error {
  override readonly name = "CycleError";
  /** The cycle as a path whose first node is repeated at the end, as {@link findCycle} returns it. */
  readonly cycle: readonly string[];

  constructor(cycle: readonly string[]) {
    super(`dependency cycle: ${formatCycle(cycle)}`);
    this.cycle = cycle;
  }
}

/**
 * A dependency cycle, as the path that closes it with its first node repeated at the end
 * (`["//a:x", "//b:y", "//a:x"]`; a node that depends on itself gives `["//a:x", "//a:x"]`),
 * or `null` if there is none. The first node is where the sorted depth-first walk entered the
 * cycle, so the same graph always reports the same cycle.
 */
export function findCycle(nodes: readonly string[], deps: (node: string) => readonly string[]): string[] | null {
  return walkDepthFirst(nodes, memoizeSortedDeps(deps), () => {});
}

/** A cycle path for messages: `//a:x -> //b:y -> //a:x`. */
export function formatCycle(path: readonly string[]): string {
  return path.join(" -> ");
}

/**
 * Every node of the graph with each node after all of its dependencies. Deterministic: the
 * post-order of a depth-first walk that takes nodes and dependencies in sorted order.
 * @throws CycleError if the graph has a cycle.
 */
export function topoOrder(nodes: readonly string[], deps: (node: string) => readonly string[]): string[] {
  return checkedTopoOrder(nodes, memoizeSortedDeps(deps));
}

/**
 * For each node of the graph, the weight of the heaviest path from it up to a node that nothing
 * depends on (a final target), counting both ends: a final target's value is its own weight. The
 * scheduler starts the ready node with the largest value first, so the critical path never waits.
 * `weight` defaults to 1 for every node (the path length in nodes).
 * @throws CycleError if the graph has a cycle.
 */
export function longestPathToSink(
  nodes: readonly string[],
  deps: (node: string) => readonly string[],
  weight: (node: string) => number = () => 1,
): Map<string, number> {
  const sortedDeps = memoizeSortedDeps(deps);
  const order = checkedTopoOrder(nodes, sortedDeps);
  const dependants = new Map<string, string[]>();
  for (const node of order) {
    for (const dependency of sortedDeps(node)) {
      let list = dependants.get(dependency);
      if (list === undefined) dependants.set(dependency, (list = []));
      list.push(node);
    }
  }
  const lengths = new Map<string, number>();
  // Dependants come after their dependencies in `order`, so walking it backwards finds every
  // dependant's length computed before it is needed.
  for (let index = order.length - 1; index >= 0; index--) {
    const node = order[index]!;
    let heaviestDependant = 0;
    for (const dependant of dependants.get(node) ?? []) {
      heaviestDependant = Math.max(heaviestDependant, lengths.get(dependant)!);
    }
    lengths.set(node, weight(node) + heaviestDependant);
  }
  return lengths;
}

function checkedTopoOrder(nodes: readonly string[], sortedDeps: (node: string) => readonly string[]): string[] {
  const order: string[] = [];
  const cycle = walkDepthFirst(nodes, sortedDeps, (node) => order.push(node));
  if (cycle !== null) throw new CycleError(cycle);
  return order;
}

/** `deps` with each node's dependencies deduplicated, sorted, and computed once. */
function memoizeSortedDeps(deps: (node: string) => readonly string[]): (node: string) => readonly string[] {
  const cache = new Map<string, readonly string[]>();
  return (node) => {
    let sorted = cache.get(node);
    if (sorted === undefined) {
      sorted = [...new Set(deps(node))].sort();
      cache.set(node, sorted);
    }
    return sorted;
  };
}

/**
 * Depth-first walk from every node in sorted order, calling `onFinish` for each node after all of
 * its dependencies (post-order). Stops at the first back edge and returns the cycle it closes;
 * returns `null` when the whole graph was walked without finding one.
 */
function walkDepthFirst(
  nodes: readonly string[],
  sortedDeps: (node: string) => readonly string[],
  onFinish: (node: string) => void,
): string[] | null {
  const finished = new Set<string>();
  // The current path from a root, as parallel arrays; `pathIndex` maps each node on it to its place.
  const pathNodes: string[] = [];
  const pathDeps: (readonly string[])[] = [];
  const nextDepIndex: number[] = [];
  const pathIndex = new Map<string, number>();
  const enter = (node: string): void => {
    pathIndex.set(node, pathNodes.length);
    pathNodes.push(node);
    pathDeps.push(sortedDeps(node));
    nextDepIndex.push(0);
  };

  for (const root of [...new Set(nodes)].sort()) {
    if (finished.has(root)) continue;
    enter(root);
    while (pathNodes.length > 0) {
      const top = pathNodes.length - 1;
      const dependencies = pathDeps[top]!;
      const depIndex = nextDepIndex[top]!;
      if (depIndex < dependencies.length) {
        nextDepIndex[top] = depIndex + 1;
        const dependency = dependencies[depIndex]!;
        if (finished.has(dependency)) continue;
        const onPath = pathIndex.get(dependency);
        if (onPath !== undefined) return [...pathNodes.slice(onPath), dependency];
        enter(dependency);
      } else {
        const node = pathNodes.pop()!;
        pathDeps.pop();
        nextDepIndex.pop();
        pathIndex.delete(node);
        finished.add(node);
        onFinish(node);
      }
    }
  }
  return null;
}
