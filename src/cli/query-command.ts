/** `kiln query <expr>`: Bazel's query syntax over the target graph, one label a line. */
import { inputError } from "../errors.js";
import { evaluateQuery, parseQuery, QuerySyntaxError, type QueryGraph } from "../graph/query.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { LabelSyntaxError, parsePattern, patternMatches } from "../workspace/label.js";
import { didYouMean } from "../graph/suggest.js";

export async function runQueryCommand(expression: string, options: { workspace?: string }): Promise<number> {
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
  if (labels.length > 0) process.stdout.write(`${labels.join("\n")}\n`);
  return 0;
}
