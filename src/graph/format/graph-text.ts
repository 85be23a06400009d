/**
 * `kiln graph --format dot|mermaid|json`: the view as Graphviz DOT, a Mermaid flowchart, or JSON.
 * Deterministic (nodes and edges sorted by label) so they diff and golden-test cleanly. Status
 * shows as colour (DOT fill, Mermaid classes) and in each node's text.
 */
import type { GraphNode, GraphView, NodeStatus } from "./graph-view.js";

/** Fill colours, shared with the HTML page. */
export const STATUS_COLOURS: Record<NodeStatus, string> = {
  executed: "#c6efce",
  cached: "#dde8f7",
  failed: "#f8c4c4",
  "never built": "#eeeeee",
};

function caption(node: GraphNode): string {
  const ms = node.ms !== null ? `, ${(node.ms / 1000).toFixed(2)}s` : "";
  return `${node.rule}: ${node.status}${ms}`;
}

/** A DOT string literal: backslashes and quotes escaped. */
function dotString(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function toDot(view: GraphView): string {
  const lines = ["digraph kiln {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname="sans-serif"];'];
  for (const node of view.nodes) {
    // In a DOT label, \n (backslash, n) breaks the line; dotString escapes only quotes and backslashes.
    const label = `${dotString(node.label).slice(0, -1)}\\n${dotString(caption(node)).slice(1)}`;
    const attrs = [`label=${label}`, `tooltip=${dotString(caption(node))}`, `fillcolor=${dotString(STATUS_COLOURS[node.status])}`];
    if (node.requested) attrs.push("penwidth=2");
    lines.push(`  ${dotString(node.label)} [${attrs.join(", ")}];`);
  }
  for (const edge of view.edges) lines.push(`  ${dotString(edge.from)} -> ${dotString(edge.to)};`);
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

/** Mermaid ids must be plain words: n0, n1... in label order; the label is the node's text. */
export function toMermaid(view: GraphView): string {
  const ids = new Map(view.nodes.map((node, i) => [node.label, `n${i}`]));
  const text = (node: GraphNode) => `${node.label}<br/>${caption(node)}`.replace(/"/g, "#quot;");
  const lines = ["flowchart LR"];
  for (const node of view.nodes) lines.push(`  ${ids.get(node.label)}["${text(node)}"]`);
  for (const edge of view.edges) lines.push(`  ${ids.get(edge.from)} --> ${ids.get(edge.to)}`);
  const classOf: Record<NodeStatus, string> = { executed: "executed", cached: "cached", failed: "failed", "never built": "neverBuilt" };
  for (const [status, colour] of Object.entries(STATUS_COLOURS) as [NodeStatus, string][]) lines.push(`  classDef ${classOf[status]} fill:${colour},stroke:#555`);
  for (const status of Object.keys(STATUS_COLOURS) as NodeStatus[]) {
    const members = view.nodes.filter((node) => node.status === status).map((node) => ids.get(node.label));
    if (members.length > 0) lines.push(`  class ${members.join(",")} ${classOf[status]}`);
  }
  return `${lines.join("\n")}\n`;
}

export function toJson(view: GraphView): string {
  return `${JSON.stringify(view, null, 2)}\n`;
}
