/** `kiln build` and `kiln test`: open the workspace, load, analyse, execute, report. */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { runBuild } from "../exec/builder.js";
import { removeAbandonedSandboxes } from "../exec/sandbox.js";
import { resolveTool, type Tool } from "../exec/tools.js";
import { outputDir, transitiveClosure } from "../graph/action-graph.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { parsePatterns, type BuildCommandOptions } from "./main.js";
import { BuildReporter, type ReporterMode } from "./reporter.js";
import { relative } from "node:path";

/** Beyond this many requested targets, their output paths are not listed. */
const OUTPUTS_LISTED_UP_TO = 10;

export function platformIdentity(): string {
  return `${process.platform}-${process.arch}-node${process.versions.node.split(".")[0]}`;
}

export async function runBuildCommand(patternTexts: string[], options: BuildCommandOptions, mode: "build" | "test"): Promise<number> {
  const patterns = parsePatterns(patternTexts);
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const loaded = await session.load(patterns);
  const requested = session.resolvePatterns(loaded, patterns, { includeTests: mode === "test" });
  const stepModules = await session.prepareStepModules(loaded.graph, requested);
  const tools = resolveTools(loaded.graph, requested);

  const reporterMode: ReporterMode = options.json ? "json" : process.stderr.isTTY ? "terminal" : "plain";
  const reporter = new BuildReporter(reporterMode, process.stdout, process.stderr);
  const store = await LocalStore.open(options.cacheDir ?? defaultCacheDir(process.env), session.statCache);
  removeAbandonedSandboxes(join(session.stateDir, "sandbox"));
  let outcome;
  try {
    outcome = await runBuild({
      root: session.root,
      stateDir: session.stateDir,
      graph: loaded.graph,
      requested,
      jobs: options.jobs ?? availableParallelism(),
      keepGoing: options.keepGoing ?? false,
      readCache: options.cache !== false,
      explain: options.explain ?? false,
      store,
      statCache: session.statCache,
      stepModules,
      tools,
      lastKeys: session.lastKeys,
      recordKey: (label, key) => session.recordKey(label, key),
      hostEnv: process.env,
      platform: platformIdentity(),
      reporter: reporter.handle,
    });
  } finally {
    session.save();
    await store.close();
  }

  if (!options.json && outcome.failed.length === 0 && requested.length <= OUTPUTS_LISTED_UP_TO) {
    const lines: string[] = [];
    for (const label of requested) {
      const target = loaded.graph.targets.get(label)!;
      const dir = join(session.root, outputDir(target.pkg, target.name));
      for (const record of outcome.outputs.get(label) ?? []) lines.push(`  ${relative(process.cwd(), join(dir, record.name)) || "."}`);
    }
    if (lines.length > 0) process.stdout.write(`outputs:\n${lines.join("\n")}\n`);
  }
  return outcome.failed.length > 0 ? 1 : 0;
}

function resolveTools(graph: Parameters<typeof transitiveClosure>[0], requested: readonly string[]): Map<string, Tool> {
  const tools = new Map<string, Tool>();
  for (const label of transitiveClosure(graph, requested)) {
    for (const name of graph.targets.get(label)!.spec.tools ?? []) {
      if (!tools.has(name)) tools.set(name, resolveTool(name, process.env.PATH));
    }
  }
  return tools;
}
