/**
 * `kiln query <expr>`: Bazel's query syntax over the target graph. `--output label` (one a line,
 * the default), `json` (each target with its rule and the dependencies among the results), or
 * `graph` (the results' subgraph as Graphviz DOT, as Bazel's --output graph).
 */
import { inputError } from "../errors.js";
import { evaluateQuery, parseQuery, QuerySyntaxError, type QueryGraph } from "../graph/query.js";
import { attributeValues } from "../graph/target-attributes.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { LabelSyntaxError, parsePattern, patternMatches } from "../workspace/label.js";
import { didYouMean } from "../graph/suggest.js";

export const QUERY_OUTPUTS = ["label", "json", "graph"] as const;
export type QueryOutput = (typeof QUERY_OUTPUTS)[number];

export async function runQueryCommand(expression: string, options: { workspace?: string; output?: QueryOutput }): Promise<number> {
  let expr;
  try {
    expr = parseQuery(expression);
  } catch (error) {
    if (error instanceof QuerySyntaxError || error instanceof LabelSyntaxError) throw inputError(error.message);
    throw error;
  }
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const loaded = await session.load([parsePattern("//...")]);
  session.save();
  const targets = loaded.graph.targets;
  const graph: QueryGraph = {
    allLabels: () => [...targets.keys()],
    depsOf: (label) => targets.get(label)?.deps ?? [],
    kindOf: (label) => targets.get(label)?.spec.rule ?? "",
    attributeOf: (label, name) => {
      const target = targets.get(label);
      return target ? attributeValues(target.spec, name) : [];
    },
  };
  let labels: string[];
  try {
    labels = evaluateQuery(expr, graph, (text) => {
      const pattern = parsePattern(text);
      if (pattern.kind === "label") {
        if (!targets.has(pattern.label)) throw inputError(`no target ${pattern.label}${didYouMean(pattern.label, [...targets.keys()])}`);
        return [pattern.label];
      }
      return [...targets.values()].filter((t) => patternMatches(pattern, { pkg: t.pkg, name: t.name })).map((t) => t.label);
    });
  } catch (error) {
    if (error instanceof QuerySyntaxError || error instanceof LabelSyntaxError) throw inputError(error.message);
    throw error;
  }
  const selected = new Set(labels);
  const depsWithin = (label: string) => [...(targets.get(label)?.deps ?? [])].filter((dep) => selected.has(dep)).sort();
  switch (options.output ?? "label") {
    case "label":
      if (labels.length > 0) process.stdout.write(`${labels.join("\n")}\n`);
      break;
    case "json":
      process.stdout.write(`${JSON.stringify(labels.map((label) => ({ label, rule: targets.get(label)!.spec.rule, deps: depsWithin(label) })), null, 2)}\n`);
      break;
    case "graph": {
      const quote = (text: string) => `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
      const lines = ["digraph query {", "  rankdir=LR;", "  node [shape=box];"];
      for (const label of labels) lines.push(`  ${quote(label)};`);
      for (const label of labels) for (const dep of depsWithin(label)) lines.push(`  ${quote(dep)} -> ${quote(label)};`);
      lines.push("}");
      process.stdout.write(`${lines.join("\n")}\n`);
      break;
    }
  }
  return 0;
}
