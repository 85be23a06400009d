/**
 * `kiln graph <patterns> --format dot|json|mermaid|html`: the targets the patterns name and what
 * they depend on, each with how its last build came out (.kiln/step-results.log and last-run.json) and its outputs.
 * The html page inlines @dagrejs/dagre's browser build from kiln's own node_modules: no network.
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { inputError } from "../errors.js";
import { toHtml } from "../graph/format/graph-html.js";
import { toDot, toJson, toMermaid } from "../graph/format/graph-text.js";
import { graphView } from "../graph/format/graph-view.js";
import { didYouMean } from "../graph/suggest.js";
import { LAST_RUN_FILE, WorkspaceSession, type LastRun } from "../session/workspace-session.js";
import { lastOutcomes, readStepStatuses } from "../state/step-statuses.js";
import { patternMatches } from "../workspace/label.js";
import { currentPackage, parsePatterns } from "./up-to-date.js";

export const GRAPH_FORMATS = ["dot", "json", "mermaid", "html"] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

export interface GraphCommandOptions {
  workspace?: string;
  format?: GraphFormat;
  out?: string;
}

/** dagre's self-contained browser build (a global `dagre`), from the package kiln depends on. */
function readLayoutLibrary(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve("@dagrejs/dagre");
  return readFileSync(join(dirname(entry), "dagre.min.js"), "utf8");
}

export async function runGraphCommand(patternTexts: string[], options: GraphCommandOptions): Promise<number> {
  const format = options.format ?? "dot";
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const patterns = parsePatterns(patternTexts, currentPackage(session.root, process.cwd()));
  const loaded = await session.load(patterns);
  session.save();
  const targets = loaded.graph.targets;
  const all = [...targets.keys()].sort();
  const requested = new Set<string>();
  for (const pattern of patterns) {
    if (pattern.kind === "label") {
      if (!targets.has(pattern.label)) throw inputError(`no target ${pattern.label}${didYouMean(pattern.label, all)}`);
      requested.add(pattern.label);
      continue;
    }
    const matched = all.filter((label) => patternMatches(pattern, { pkg: targets.get(label)!.pkg, name: targets.get(label)!.name }));
    if (matched.length === 0) throw inputError(`pattern ${patternTexts[patterns.indexOf(pattern)] ?? "//..."} matches no targets`);
    for (const label of matched) requested.add(label);
  }
  const statuses = lastOutcomes(readStepStatuses(session.stateDir, { compact: true }), readLastRun(session.stateDir));
  const view = graphView(loaded.graph, [...requested], (label) => {
    const status = statuses.get(label);
    const last = session.lastResults.get(label);
    return {
      ...(status ? { status: { status: status.status, ms: status.ms } } : {}),
      ...(last && status?.status !== "failed" ? { outputs: last.outputs.map((o) => o.name) } : {}),
    };
  });
  const text =
    format === "dot"
      ? toDot(view)
      : format === "mermaid"
        ? toMermaid(view)
        : format === "json"
          ? toJson(view)
          : toHtml(view, { title: `kiln graph ${patternTexts.join(" ") || "//..."}`, layoutLibrary: readLayoutLibrary() });
  if (options.out) {
    const path = resolve(options.out);
    const temp = `${path}.tmp-${process.pid}`;
    writeFileSync(temp, text);
    renameSync(temp, path);
    process.stderr.write(`kiln graph: ${view.nodes.length} targets written to ${options.out}\n`);
  } else process.stdout.write(text);
  return 0;
}

function readLastRun(stateDir: string): LastRun | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, LAST_RUN_FILE), "utf8")) as LastRun;
  } catch {
    return undefined;
  }
}
