/** `kiln build` and `kiln test`: open the workspace, load, analyse, execute, report. */
import { mkdirSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { runBuild } from "../exec/builder.js";
import { removeAbandonedSandboxes } from "../exec/sandbox.js";
import { resolveTool, type Tool } from "../exec/tools.js";
import { outputDir, transitiveClosure, type BuildGraph, type GraphTarget } from "../graph/action-graph.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { currentPackage, parsePatterns, type BuildCommandOptions } from "./main.js";
import { BuildReporter, type ReporterMode } from "./reporter.js";
import { relative } from "node:path";
import type { OutputRecord } from "../cache/local-store.js";
import type { BuildEvent } from "../exec/events.js";
import { KILN_VERSION } from "../kiln-install.js";
import { directoryStamp, LISTING_PREFIX, stampFile, takeStampChanges, writeUpToDateStamp, type RecordedFile, type StampChanges } from "../state/up-to-date-stamp.js";
import { unchangedTargets } from "../graph/unchanged-targets.js";
import type { LoadedWorkspace } from "../session/workspace-session.js";
import { requestIdentity } from "./up-to-date.js";
import { statPath } from "../stat-path.js";

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
  // The requested targets and everything they depend on: what needs bundles, tools and stamps.
  const closure = [...transitiveClosure(loaded.graph, requested)];
  const stepModules = await session.prepareStepModules(loaded.graph, closure);
  const tools = resolveTools(loaded.graph, closure);

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
  const finished: { label: string; key: string }[] = [];
  const handle = (event: BuildEvent) => {
    if (event.type === "step" && event.status !== "failed") finished.push({ label: event.label, key: event.key });
    reporter.handle(event);
  };
  const request = requestIdentity(session.root, mode, patterns);
  const sinceStamp = unchangedSinceStamp(session, loaded, closure, request);
  const unchanged = sinceStamp?.unchanged;
  const store = await LocalStore.open(options.cacheDir ?? defaultCacheDir(process.env), session.statCache);
  store.onWarning = (message) => reporter.handle({ type: "warning", message });
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
      unchanged,
      recordResult: (label, key, outputs) => session.recordResult(label, key, outputs),
      hostEnv: process.env,
      platform: platformIdentity(),
      reporter: handle,
    });
  } finally {
    session.save();
    await store.close();
  }

  if (outcome.failed.length === 0 && !outcome.interrupted && options.cache !== false) {
    if (sinceStamp) rerecordUpToDate(sinceStamp, session, loaded, closure, finished);
    else recordUpToDate(request, session, loaded, closure, outcome.outputs, finished, listOutputs(outcome.outputs));
  }
  reporter.setOutputs(outcome.outputs);
  reporter.handle(outcome.summary);
  // As shells report a command killed by the signal: 128 + SIGINT (2) or SIGTERM (15).
  if (outcome.interrupted) return outcome.interrupted === "SIGINT" ? 130 : 143;
  return outcome.failed.length > 0 ? 1 : 0;
}

/**
 * The targets the failed up-to-date check of this request proved unchanged (it stat'ed
 * everything and kept what differed), when the graph is the one that stamp was made with.
 */
function unchangedSinceStamp(
  session: WorkspaceSession,
  loaded: LoadedWorkspace,
  closure: readonly string[],
  request: string,
): { unchanged: Set<string>; changes: StampChanges } | undefined {
  const changes = takeStampChanges(stampFile(session.stateDir, request));
  if (!changes || !loaded.fromCache) return undefined;
  const unchanged = unchangedTargets({
    graph: loaded.graph,
    root: session.root,
    closure,
    changed: changes.changed,
    recordedKeys: new Map(changes.steps.map((step) => [step.label, step.key])),
    lastResults: session.lastResults,
    moduleFilesOf: (label) => session.stepModuleFiles(loaded.graph, [label]),
  });
  return unchanged.size > 0 ? { unchanged, changes } : undefined;
}

/** The files a target's result depends on and consists of (absolute): its sources and its outputs. */
function targetFiles(root: string, target: GraphTarget, outputs: readonly { name: string }[]): string[] {
  const files: string[] = [];
  for (const inputs of Object.values(target.inputs)) {
    for (const input of inputs) if (input.kind === "source") files.push(join(root, input.path));
  }
  const dir = join(root, outputDir(target.pkg, target.name));
  for (const output of outputs) files.push(join(dir, output.name));
  return files;
}

/** Records a file for the up-to-date stamp: as the stat cache knows it (with its digest), else by stat. */
function fileRecord(session: WorkspaceSession, path: string): RecordedFile | undefined {
  const known = session.statCache.entryOf(path);
  if (known) return { stamp: known.stat, digest: known.digest };
  const stats = statPath(path);
  return stats ? { stamp: [stats.size, stats.mtimeMs, stats.ino] } : undefined;
}

/**
 * After a build that trusted the stamp for its unchanged targets: the stamp is rewritten with
 * only the re-keyed targets' files (and the changed paths) recorded again.
 */
function rerecordUpToDate(
  since: { unchanged: Set<string>; changes: StampChanges },
  session: WorkspaceSession,
  loaded: LoadedWorkspace,
  closure: readonly string[],
  steps: { label: string; key: string }[],
): void {
  const refresh = new Set(since.changes.changed);
  for (const label of closure) {
    if (since.unchanged.has(label)) continue;
    const outputs = session.lastResults.get(label)?.outputs ?? [];
    for (const path of targetFiles(session.root, loaded.graph.targets.get(label)!, outputs)) refresh.add(path);
  }
  since.changes.rewrite(refresh, (path) => fileRecord(session, path), steps);
}

/**
 * Writes what the no-op fast path checks next time (see up-to-date-stamp.ts). A closure with
 * declared tools gets none: a tool's version can change without its path's stat changing
 * (pyenv and friends), so such builds always take the normal path.
 */
function recordUpToDate(
  request: string,
  session: WorkspaceSession,
  loaded: LoadedWorkspace,
  closure: readonly string[],
  outputs: Map<string, OutputRecord[]>,
  steps: { label: string; key: string }[],
  listing: string[],
): void {
  const file = stampFile(session.stateDir, request);
  rmSync(file, { force: true });
  const files = new Map<string, RecordedFile>();
  const env: Record<string, string | null> = {};
  const add = (path: string) => {
    if (files.has(path)) return;
    const record = fileRecord(session, path);
    if (record) files.set(path, record);
  };
  for (const label of closure) {
    const target = loaded.graph.targets.get(label)!;
    if ((target.spec.tools ?? []).length > 0) return;
    for (const name of target.spec.passEnv ?? []) env[name] = process.env[name] ?? null;
    for (const path of targetFiles(session.root, target, outputs.get(label) ?? [])) add(path);
  }
  for (const path of loaded.filesRead) add(path);
  for (const path of session.stepModuleFiles(loaded.graph, closure)) add(path);
  for (const stamp of session.directoryStamps()) {
    files.set(join(session.root, stamp.dir), { stamp: directoryStamp(stamp.mtimeMs), digest: stamp.listing && `${LISTING_PREFIX}${stamp.listing}` });
  }
  const requestedOutputs = listing.slice(1).map((line) => resolve(process.cwd(), line.trim()));
  writeUpToDateStamp(file, KILN_VERSION, request, env, files, { steps, requestedOutputs });
}

function resolveTools(graph: BuildGraph, closure: readonly string[]): Map<string, Tool> {
  const tools = new Map<string, Tool>();
  for (const label of closure) {
    for (const name of graph.targets.get(label)!.spec.tools ?? []) {
      if (!tools.has(name)) tools.set(name, resolveTool(name, process.env.PATH));
    }
  }
  return tools;
}
