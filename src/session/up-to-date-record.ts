/**
 * What a build records for the no-op fast path (state/up-to-date-stamp.ts), and what it takes
 * from a stamp check that failed: the targets whose files did not change need no new key.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { outputDir, type BuildGraph, type GraphTarget } from "../graph/action-graph.js";
import { unchangedTargets } from "../graph/unchanged-targets.js";
import { recordIdentity } from "../key/file-identity.js";
import type { StatCache } from "../state/stat-cache.js";
import { KILN_VERSION } from "../kiln-install.js";
import { statPath } from "../stat-path.js";
import { directoryStamp, LISTING_PREFIX, stampFile, writeUpToDateStamp, type RecordedFile, type StampChanges } from "../state/up-to-date-stamp.js";
import type { DirectoryStamp } from "../workspace/discover.js";
import type { LastResult } from "../state/workspace-state.js";

/** What the recording needs of the session and of the build. */
export interface StampContext {
  root: string;
  stateDir: string;
  graph: BuildGraph;
  /** The build's labels: the requested targets and everything they depend on. */
  closure: readonly string[];
  statCache: StatCache;
  lastResults: ReadonlyMap<string, LastResult>;
  /** Absolute paths of the step-module files of the step targets among `labels`. */
  stepModuleFiles: (labels: readonly string[]) => string[];
}

/**
 * The targets a failed up-to-date check of this request proved unchanged (it stat'ed everything
 * and kept what differed), when the graph is the one that stamp was made with.
 */
export function unchangedSinceStamp(context: StampContext, changes: StampChanges | undefined, graphFromCache: boolean): Set<string> | undefined {
  if (!changes || !graphFromCache) return undefined;
  const unchanged = unchangedTargets({
    graph: context.graph,
    root: context.root,
    closure: context.closure,
    changed: changes.changed,
    recordedKeys: keysByLabel(changes.steps),
    lastResults: context.lastResults,
    moduleFilesOf: (label) => context.stepModuleFiles([label]),
  });
  return unchanged.size > 0 ? unchanged : undefined;
}

/** Label -> key, made in one loop: 100,000 steps need no pair array each first. */
function keysByLabel(steps: readonly { label: string; key: string }[]): Map<string, string> {
  const keys = new Map<string, string>();
  for (const { label, key } of steps) keys.set(label, key);
  return keys;
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
function fileRecord(statCache: StatCache, path: string): RecordedFile | undefined {
  const known = statCache.entryOf(path);
  if (known) return { stamp: known.identity, digest: known.digest };
  const statTakenAt = Date.now();
  const stats = statPath(path);
  return stats ? { stamp: recordIdentity(stats, "user", statTakenAt) } : undefined;
}

/**
 * After a build that trusted the stamp for its unchanged targets: the stamp is rewritten with
 * only the re-keyed targets' files (and the changed paths) recorded again.
 */
export function rerecordUpToDate(context: StampContext, changes: StampChanges, unchanged: ReadonlySet<string>, steps: { label: string; key: string }[]): void {
  const refresh = new Set(changes.changed);
  for (const label of context.closure) {
    if (unchanged.has(label)) continue;
    const outputs = context.lastResults.get(label)?.outputs ?? [];
    for (const path of targetFiles(context.root, context.graph.targets.get(label)!, outputs)) refresh.add(path);
  }
  changes.rewrite(refresh, (path) => fileRecord(context.statCache, path), steps);
}

/**
 * Writes what the no-op fast path checks next time (see up-to-date-stamp.ts). A closure with
 * declared tools gets none: a tool's version can change without its path's stat changing
 * (pyenv and friends), so such builds always take the normal path.
 */
export function recordUpToDate(
  context: StampContext,
  request: string,
  hostEnv: NodeJS.ProcessEnv,
  filesRead: readonly string[],
  directories: readonly DirectoryStamp[],
  outputs: ReadonlyMap<string, readonly { name: string }[]>,
  steps: { label: string; key: string }[],
  requestedOutputs: string[],
): void {
  const file = stampFile(context.stateDir, request);
  rmSync(file, { force: true });
  const files = new Map<string, RecordedFile>();
  const env: Record<string, string | null> = {};
  const add = (path: string) => {
    if (files.has(path)) return;
    const record = fileRecord(context.statCache, path);
    if (record) files.set(path, record);
  };
  for (const label of context.closure) {
    const target = context.graph.targets.get(label)!;
    if ((target.spec.tools ?? []).length > 0) return;
    for (const name of target.spec.passEnv ?? []) env[name] = hostEnv[name] ?? null;
    for (const path of targetFiles(context.root, target, outputs.get(label) ?? [])) add(path);
  }
  for (const path of filesRead) add(path);
  for (const path of context.stepModuleFiles(context.closure)) add(path);
  for (const stamp of directories) {
    files.set(join(context.root, stamp.dir), { stamp: directoryStamp(stamp.mtimeMs), digest: stamp.listing && `${LISTING_PREFIX}${stamp.listing}` });
  }
  writeUpToDateStamp(file, KILN_VERSION, request, env, files, { steps, requestedOutputs });
}
