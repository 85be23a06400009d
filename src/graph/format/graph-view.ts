/**
 * What `kiln graph` draws: the targets a pattern names and everything they depend on, each with
 * how it last came out (executed, cached, failed, never built), its duration and outputs, and
 * the edges dependency -> dependant. Pure data, sorted by label, shared by every format.
 */
import type { BuildGraph } from "../action-graph.js";

export type NodeStatus = "executed" | "cached" | "failed" | "never built";

export interface GraphNode {
  label: string;
  /** The rule the BUILD.ts called (`cmd`, `step`, `dataset`, a macro's name). */
  rule: string;
  pkg: string;
  name: string;
  /** Named by the pattern itself (the rest are its dependencies). */
  requested: boolean;
  status: NodeStatus;
  /** Milliseconds of its last execution, when known. */
  ms: number | null;
  /** Workspace-relative paths of its outputs from its last build (declared outs when never built). */
  outputs: string[];
  /** Labels of the targets it reads. */
  deps: string[];
  /** Where it is declared: `pkg/BUILD.ts:line`. */
  declared: string;
}

export interface GraphView {
  format: "kiln.graph/1";
  nodes: GraphNode[];
  edges: { from: string; to: string }[];
}

export interface NodeHistory {
  status?: { status: "executed" | "cached" | "failed"; ms: number };
  /** Output file names of its last successful build. */
  outputs?: string[];
}

/** The view of `requested` and their dependencies; `history(label)` is what the workspace remembers. */
export function graphView(graph: BuildGraph, requested: readonly string[], history: (label: string) => NodeHistory): GraphView {
  const wanted = new Set(requested);
  const closure = new Set<string>();
  const stack = [...requested];
  while (stack.length > 0) {
    const label = stack.pop()!;
    if (closure.has(label)) continue;
    closure.add(label);
    for (const dep of graph.targets.get(label)?.deps ?? []) stack.push(dep);
  }
  const nodes: GraphNode[] = [];
  const edges: { from: string; to: string }[] = [];
  for (const label of [...closure].sort()) {
    const target = graph.targets.get(label)!;
    const known = history(label);
    const outDir = target.pkg === "" ? `kiln-out/${target.name}` : `kiln-out/${target.pkg}/${target.name}`;
    const names = known.outputs ?? target.spec.outs;
    nodes.push({
      label,
      rule: target.spec.rule,
      pkg: target.pkg,
      name: target.name,
      requested: wanted.has(label),
      status: known.status?.status ?? "never built",
      ms: known.status && known.status.ms > 0 ? known.status.ms : null,
      outputs: [...names].sort().map((name) => `${outDir}/${name}`),
      deps: [...target.deps].sort(),
      declared: `${target.location.file}:${target.location.line}`,
    });
    for (const dep of [...target.deps].sort()) edges.push({ from: dep, to: label });
  }
  return { format: "kiln.graph/1", nodes, edges };
}
