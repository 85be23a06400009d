/** `kiln build` and `kiln test`: open the workspace, load, analyse, execute, report. */
import { mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { runBuild } from "../exec/builder.js";
import { removeAbandonedSandboxes } from "../exec/sandbox.js";
import { resolveTool, type Tool } from "../exec/tools.js";
import { outputDir, transitiveClosure } from "../graph/action-graph.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { currentPackage, parsePatterns, type BuildCommandOptions } from "./main.js";
import { BuildReporter, type ReporterMode } from "./reporter.js";
import { relative } from "node:path";

/** Beyond this many requested targets, their output paths are not listed. */
const OUTPUTS_LISTED_UP_TO = 10;

export function platformIdentity(): string {
  return `${process.platform}-${process.arch}-node${process.versions.node.split(".")[0]}`;
}

export async function runBuildCommand(patternTexts: string[], options: BuildCommandOptions, mode: "build" | "test"): Promise<number> {
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const patterns = parsePatterns(patternTexts, currentPackage(session.root, process.cwd()));
  const loaded = await session.load(patterns);
  const requested = session.resolvePatterns(loaded, patterns, { includeTests: mode === "test" });
  const stepModules = await session.prepareStepModules(loaded.graph, requested);
  const tools = resolveTools(loaded.graph, requested);

  const reporterMode: ReporterMode = options.json ? "json" : process.stderr.isTTY ? "terminal" : "plain";
  // Where the requested targets' outputs are, listed before the summary line (which ends the output).
  const listOutputs = (outputs: Map<string, { name: string }[]>): string[] => {
    if (requested.length > OUTPUTS_LISTED_UP_TO) return [];
    const lines: string[] = [];
    for (const label of requested) {
      const target = loaded.graph.targets.get(label)!;
      const dir = join(session.root, outputDir(target.pkg, target.name));
      for (const record of outputs.get(label) ?? []) lines.push(`  ${relative(process.cwd(), join(dir, record.name))}`);
    }
    return lines.length > 0 ? ["outputs:", ...lines] : [];
  };
  const reporter = new BuildReporter(reporterMode, process.stdout, process.stderr, listOutputs);
  const store = await LocalStore.open(options.cacheDir ?? defaultCacheDir(process.env), session.statCache);
  const tempDir = join(session.stateDir, "tmp");
  mkdirSync(tempDir, { recursive: true });
  for (const dir of [join(session.stateDir, "sandbox"), tempDir, join(store.dir, "tmp")]) removeAbandonedSandboxes(dir);
  let outcome;
  try {
    outcome = await runBuild({
      root: session.root,
      stateDir: session.stateDir,
      tempDir,
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
      lastResults: session.lastResults,
      recordResult: (label, key, outputs) => session.recordResult(label, key, outputs),
      hostEnv: process.env,
      platform: platformIdentity(),
      reporter: reporter.handle,
    });
  } finally {
    session.save();
    await store.close();
  }

  reporter.setOutputs(outcome.outputs);
  reporter.handle(outcome.summary);
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
