/**
 * One workspace, open for one or many builds (watch mode keeps a session alive): the loaded
 * graph, the stat cache and step bundles live here in memory and are persisted between runs.
 * This is where loading, analysis and execution are wired together (`build`, the one
 * composition `kiln build`, `kiln test` and watch mode call); each piece stays testable on its
 * own. Nothing here exits the process or handles signals: a build is stopped through its
 * AbortSignal and reports through its reporter.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, statSync } from "node:fs";
import { isAbsolute, join, posix, relative } from "node:path";
import { globSync } from "tinyglobby";
import { inputError } from "../errors.js";
import { buildGraph, isLabelReference, outputDir, transitiveClosure, withResolution, type BuildGraph, type SourceResolver } from "../graph/action-graph.js";
import { didYouMean } from "../graph/suggest.js";
import { StatCache } from "../state/stat-cache.js";
import { bundleStepModules, STEP_MODULE_FORMAT, type StepModule } from "../key/step-bundle.js";
import { KILN_VERSION } from "../kiln-install.js";
import { readJsonFile, writeFileAtomic } from "../state/atomic-file.js";
import { evaluationStillValid, readGraphCache, writeGraphCache, type CachedGraph } from "../state/graph-cache.js";
import { LastResultsFile, STATE_FILES, stateDirOf, type LastResult } from "../state/workspace-state.js";
import { discoverPackages, discoveryStillValid, type DirectoryStamp } from "../workspace/discover.js";
import { parseLabel, packagesForPattern, patternMatches, type Pattern } from "../workspace/label.js";
import { loadPackages, type LoadedTarget, type WorkspaceManifest } from "../workspace/loader.js";
import { BUILD_FILE, findWorkspaceRoot, OUTPUT_DIR, WORKSPACE_FILE } from "../workspace/root.js";
import { sourceLinkChecker } from "../workspace/source-links.js";
import { resolveRunReference } from "../exec/run-ref.js";
import { statPath } from "../stat-path.js";
import { LocalStore, type OutputRecord } from "../cache/local-store.js";
import { DEFAULT_CACHE_MAX_BYTES, trimInBackground } from "../cache/gc/auto-trim.js";
import { recordBuild } from "../cache/gc/build-history.js";
import { LocalActionCache, TieredCache, type ActionCache } from "../cache/action-cache.js";
import type { RemoteCacheSettings } from "../cache/remote/remote-cache.js";
import { runBuild, type BuildOptions, type BuildOutcome } from "../exec/builder.js";
import { LocalExecutor } from "../exec/local-executor.js";
import type { Sandbox } from "../exec/sandbox.js";
import { SandboxPool } from "../exec/sandbox-pool.js";
import type { BuildEvent, Reporter, StepStatus, Tracer } from "../events.js";
import { recordStepStatuses } from "../state/step-statuses.js";
import { removeAbandonedSandboxes } from "../exec/sandbox.js";
import type { SandboxChoice } from "../exec/namespace-sandbox.js";
import { resolveTool, type Tool } from "../exec/tools.js";
import { forgetOutputDirectories } from "../cache/materialize.js";
import { checkUpToDateStamp, KeptStamp, requestIdentity, stampFile, type StampChanges, type StampCheck } from "../state/up-to-date-stamp.js";
import { recordUpToDate, rerecordUpToDate, unchangedSinceStamp, type StampContext } from "./up-to-date-record.js";
import { resolveBuildSources } from "../lock/build-sources.js";
import { LOCK_FILE, readLockFile } from "../lock/lockfile.js";
import { liveFilesOf, type ResolvedSource } from "../lock/sources.js";

/** What the last build did, for `kiln provenance` (runDetails): when, and which steps ran or were cached. */
export interface LastRun {
  /** A fresh id per build, so provenance's invocationId differs between rebuilds (SLSA asks it be unique). */
  invocationId?: string;
  startedOn: string;
  finishedOn: string;
  steps: Record<string, { key: string; status: "executed" | "cached" }>;
}
export const LAST_RUN_FILE = "last-run.json";

/** What `kiln build` and `kiln test` ask of a session. */
export interface BuildRequest {
  /** `test`: tests matched by wildcards are built and run; `build` leaves them out. */
  mode: "build" | "test";
  patterns: readonly Pattern[];
  jobs: number;
  keepGoing: boolean;
  /** false with --no-cache: every step runs (results are still stored). */
  readCache: boolean;
  explain: boolean;
  /** The local cache's directory. */
  cacheDir: string;
  /** A shared cache behind the local one (Bazel's HTTP cache protocol). */
  remote?: RemoteCacheSettings;
  /** How `cmd` steps are isolated (isolation.ts); undefined: WORKSPACE.ts's `sandbox`, else auto. */
  sandbox?: SandboxChoice;
  /** The caller's environment: PATH for tools, values of passed-through variables. */
  hostEnv: NodeJS.ProcessEnv;
  reporter: Reporter;
  /** What a failed up-to-date check of this same request found changed (the CLI's fast path). */
  stampChanges?: StampChanges;
  /** --locked: a source that differs from kiln.lock (or is not in it) refuses the build. */
  locked?: boolean;
  /** Where url sources and snapshots are read from when not the build's own cache (kiln verify). */
  sourceCacheDir?: string;
  /** --profile: receives the build's timed slices. */
  trace?: Tracer;
  /** The local cache's cap (null: never trimmed); undefined: WORKSPACE.ts's, else 10 GiB. */
  cacheMaxBytes?: number | null;
  /** Watch mode: gets the build's scheduler, to cancel steps an edit made obsolete. */
  onScheduler?: BuildOptions["onScheduler"];
  /**
   * Watch mode: told the outcome as soon as every step is done and its outputs are in kiln-out,
   * before kiln records its state (sandboxes parked, the cache index committed, the stamp and
   * the last run written: at 100,000 targets ~1.5 s a rebuild, which the user need not wait for
   * to see the result). `build` still resolves only once all of that is done.
   */
  onOutcome?: (outcome: BuildOutcome, requestedOutputs: string[]) => void;
}

export interface BuildResult extends BuildOutcome {
  /** The labels the patterns named (for `test`, the tests). */
  requested: string[];
  /** Absolute paths of the requested targets' outputs, when at most OUTPUTS_LISTED_UP_TO targets were requested. */
  requestedOutputs: string[];
  /** What the build read, for watch mode: the graph, the closure, and the files behind them. */
  read: {
    graph: BuildGraph;
    closure: string[];
    /** BUILD.ts, WORKSPACE.ts and what they import (absolute). */
    loadFiles: string[];
    /** The live files of the path sources read, by source name (absolute). */
    sourceFiles: Map<string, string[]>;
  };
}

/** Beyond this many requested targets, their output paths are not listed. */
export const OUTPUTS_LISTED_UP_TO = 10;

/** What a step's platform is, as it enters keys. */
export function platformIdentity(): string {
  return `${process.platform}-${process.arch}-node${process.versions.node.split(".")[0]}`;
}

export interface LoadedWorkspace {
  manifest: WorkspaceManifest;
  graph: BuildGraph;
  /** All packages in the tree (loaded or not). */
  packages: string[];
  /** Files the loading read, for watch mode (absolute). */
  filesRead: string[];
  /** True when the graph came whole from the graph cache: no BUILD file evaluated, no glob re-resolved. */
  fromCache: boolean;
}

export interface ResolveOptions {
  /** `kiln test`: tests matched by wildcards are included; `kiln build` leaves them out. */
  includeTests: boolean;
}

export class WorkspaceSession {
  readonly stateDir: string;
  readonly statCache: StatCache;
  /** The stamp this session last patched, for its next check (watch mode: see KeptStamp). */
  private readonly keptStamp = new KeptStamp();
  private cachedGraph?: CachedGraph;
  /** The graph made of `cachedGraph` (never changed once made). */
  private builtGraph?: { from: CachedGraph; graph: BuildGraph };
  private stepModules = new Map<string, StepModule>();
  /**
   * The last build's closure and its warning about sources outside the workspace, kept while the
   * graph object (never changed once made) and the requested labels are the same: watch mode
   * rebuilds with both unchanged, and at 100,000 targets the two walks cost ~0.5 s a rebuild.
   */
  private closureMemo?: { graph: BuildGraph; requested: readonly string[]; closure: string[]; outsideWarning: string | undefined };
  /** Watch mode: sandboxes too large to lend, kept between this session's builds (sandbox-pool.ts). */
  private heldSandboxes?: Map<string, Sandbox>;
  readonly lastResults: Map<string, LastResult>;
  private readonly lastResultsFile: LastResultsFile;
  private readonly changedKeys = new Set<string>();

  private constructor(readonly root: string) {
    this.stateDir = stateDirOf(root);
    this.statCache = new StatCache(join(this.stateDir, STATE_FILES.statCache));
    this.lastResultsFile = new LastResultsFile(this.stateDir);
    this.lastResults = this.lastResultsFile.read();
    const savedModules = readJsonFile<StepModule[]>(join(this.stateDir, STATE_FILES.stepModules));
    // Modules of another format are bundled again on first use.
    for (const module of savedModules ?? []) if (module.format === STEP_MODULE_FORMAT) this.stepModules.set(module.entry, module);
  }

  static open(cwd: string, explicitWorkspace?: string): WorkspaceSession {
    return new WorkspaceSession(findWorkspaceRoot(cwd, explicitWorkspace));
  }

  /**
   * Loads what `patterns` need: from the graph cache when nothing it read has changed, else by
   * evaluating BUILD.ts files in waves (the packages named, then those their labels reach).
   */
  async load(patterns: readonly Pattern[]): Promise<LoadedWorkspace> {
    let cached = this.cachedGraph ?? readGraphCache(join(this.stateDir, STATE_FILES.graph));
    if (cached && !(await evaluationStillValid(this.root, cached, KILN_VERSION, this.statCache))) cached = undefined;
    const treeUnchanged = cached !== undefined && discoveryStillValid(this.root, cached.discovery.stamps);
    const discovery = treeUnchanged ? cached!.discovery : discoverPackages(this.root);
    // A BUILD.ts added or removed changes what labels mean: evaluate again.
    if (cached && !treeUnchanged && cached.discovery.packages.join("\n") !== discovery.packages.join("\n")) cached = undefined;
    const known = new Set(discovery.packages);

    const needed = new Set<string>();
    for (const pattern of patterns) {
      for (const pkg of packagesForPattern(pattern, discovery.packages)) needed.add(pkg);
      if (pattern.kind !== "recursive" && !known.has(pattern.kind === "label" ? parseLabel(pattern.label).pkg : pattern.pkg)) {
        const pkg = pattern.kind === "label" ? parseLabel(pattern.label).pkg : pattern.pkg;
        throw inputError(
          `no package //${pkg}: ${pkg === "" ? BUILD_FILE : `${pkg}/${BUILD_FILE}`} does not exist` +
            didYouMean(`//${pkg}`, discovery.packages.map((p) => `//${p}`)),
        );
      }
    }

    let manifest = cached?.manifest;
    const loaded = new Set(cached?.loadedPackages ?? []);
    const targets = new Map<string, LoadedTarget>((cached?.targets ?? []).map((t) => [t.label, t]));
    const filesRead = new Map<string, string>(cached?.filesRead ?? []);
    let loadedSomething = false;
    // Waves: load what is needed and not loaded; labels in the new targets may need more packages.
    const queue = [...needed];
    if (discovery.packages.some((pkg) => !loaded.has(pkg))) {
      for (const target of targets.values()) for (const pkg of referencedPackages(target)) if (known.has(pkg)) queue.push(pkg);
    }
    for (;;) {
      const wave = [...new Set(queue.splice(0))].filter((pkg) => !loaded.has(pkg) && known.has(pkg)).sort();
      if (wave.length === 0 && manifest) break;
      const result = await loadPackages(this.root, wave, !manifest, this.stateDir);
      loadedSomething = true;
      manifest ??= result.manifest;
      for (const pkg of wave) loaded.add(pkg);
      for (const target of result.targets) {
        targets.set(target.label, target);
        for (const pkg of referencedPackages(target)) if (known.has(pkg) && !loaded.has(pkg)) queue.push(pkg);
      }
      for (const file of result.filesRead) {
        const { digest } = await this.statCache.digest(isAbsolute(file) ? file : join(this.root, file));
        filesRead.set(file, digest);
      }
    }

    const reuseResolution = treeUnchanged && !loadedSomething && cached?.resolved !== undefined;
    // A resident session reusing the same cached graph gets the same BuildGraph object: 100,000
    // targets need not be put together again, and watch mode keeps what it indexed of it.
    const graph: BuildGraph = reuseResolution
      ? this.builtGraph?.from === cached
        ? this.builtGraph!.graph
        : { targets: new Map(cached!.targets.map((t, i) => [t.label, withResolution(t, cached!.resolved![i]!)])) }
      : buildGraph([...targets.values()], this.sourceResolver(), Object.keys(manifest!.sources ?? {}));
    // Reused whole, the cached graph is already what would be rebuilt here (same discovery,
    // manifest, packages, targets, resolution and files read): kept as it is, not copied.
    this.cachedGraph = reuseResolution ? cached! : {
      format: "kiln.graph/2",
      kilnVersion: KILN_VERSION,
      discovery,
      manifest: manifest!,
      loadedPackages: [...loaded].sort(),
      targets: [...targets.values()],
      resolved: [...targets.values()].map((t) => {
        const resolved = graph.targets.get(t.label)!;
        return { inputs: resolved.inputs, deps: resolved.deps };
      }),
      filesRead: [...filesRead].sort(),
    };
    this.builtGraph = { from: this.cachedGraph, graph };
    if (!reuseResolution) {
      const { format: _format, ...rest } = this.cachedGraph;
      writeGraphCache(join(this.stateDir, STATE_FILES.graph), rest);
    }
    return {
      manifest: manifest!,
      graph,
      packages: discovery.packages,
      fromCache: reuseResolution,
      filesRead: [...filesRead.keys()].map((f) => (isAbsolute(f) ? f : join(this.root, f))),
    };
  }

  /** The directories of the tree with their mtimes, as the last load saw them. */
  directoryStamps(): readonly DirectoryStamp[] {
    return this.cachedGraph?.discovery.stamps ?? [];
  }

  /** Step modules' files (absolute) for the step targets among `labels`. */
  stepModuleFiles(graph: BuildGraph, labels: Iterable<string>): string[] {
    const files = new Set<string>();
    for (const label of labels) {
      const target = graph.targets.get(label)!;
      if (target.spec.action !== "step") continue;
      const module = this.stepModules.get(resolveRunReference(this.root, target.pkg, target.spec.run!).entry);
      for (const [file] of module?.files ?? []) files.add(file);
    }
    return [...files];
  }

  /** Drops the in-memory graph so the next load revalidates it (watch mode, after a change). */
  forgetGraph(): void {
    this.cachedGraph = undefined;
  }

  /** The labels `patterns` name, each checked to exist. */
  resolvePatterns(loaded: LoadedWorkspace, patterns: readonly Pattern[], options: ResolveOptions): string[] {
    const all = [...loaded.graph.targets.keys()].sort();
    const selected = new Set<string>();
    for (const pattern of patterns) {
      if (pattern.kind === "label") {
        if (!loaded.graph.targets.has(pattern.label)) {
          throw inputError(`no target ${pattern.label}${didYouMean(pattern.label, all)}`);
        }
        selected.add(pattern.label);
        continue;
      }
      let matchedAny = false;
      for (const label of all) {
        const target = loaded.graph.targets.get(label)!;
        if (!patternMatches(pattern, { pkg: target.pkg, name: target.name })) continue;
        matchedAny = true;
        if (target.spec.test && !options.includeTests) continue;
        selected.add(label);
      }
      if (!matchedAny) throw inputError(`pattern ${formatPattern(pattern)} matches no targets`);
    }
    if (options.includeTests) {
      // `kiln test //...` runs the tests; what they depend on is built as their inputs.
      return [...selected].filter((label) => loaded.graph.targets.get(label)!.spec.test).sort();
    }
    return [...selected].sort();
  }

  /** Bundles the step modules that `closure` (a build's targets and their dependencies) runs, reusing bundles whose files are unchanged. */
  async prepareStepModules(graph: BuildGraph, closure: Iterable<string>): Promise<Map<string, StepModule>> {
    const owners = new Map<string, string>();
    for (const label of closure) {
      const target = graph.targets.get(label)!;
      if (target.spec.action !== "step") continue;
      const { entry } = resolveRunReference(this.root, target.pkg, target.spec.run!);
      if (!owners.has(entry)) owners.set(entry, label);
    }
    const stale: string[] = [];
    for (const entry of owners.keys()) {
      const module = this.stepModules.get(entry);
      if (!module || !(await this.moduleStillValid(module))) stale.push(entry);
    }
    if (stale.length > 0) {
      const fresh = await bundleStepModules(this.root, stale, this.stateDir, this.statCache, (entry) => owners.get(entry) ?? entry);
      for (const [entry, module] of fresh) this.stepModules.set(entry, module);
      writeFileAtomic(join(this.stateDir, STATE_FILES.stepModules), JSON.stringify([...this.stepModules.values()]));
    }
    return this.stepModules;
  }

  private async moduleStillValid(module: StepModule): Promise<boolean> {
    try {
      statSync(module.bundlePath);
      for (const [file, digest] of module.files) {
        if ((await this.statCache.digest(file)).digest !== digest) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  /**
   * What changed since the up-to-date stamp of this request, for a resident caller (watch mode;
   * the CLI's fast path checks before any session exists): the build then re-keys only the
   * targets whose files changed. Undefined without a stamp that can answer (none yet, another
   * kiln version, a passed-through variable changed, a closure with tools records none).
   */
  stampChanges(request: Pick<BuildRequest, "mode" | "patterns" | "hostEnv">): StampChanges | undefined {
    return this.checkStamp(request, true).changes;
  }

  /**
   * The up-to-date check of the CLI's fast path, against the stamp this session kept decoded (a
   * kiln server's builds): `upToDate` when nothing changed, else what did.
   */
  checkStamp(request: Pick<BuildRequest, "mode" | "patterns" | "hostEnv">, changesWhenUpToDate = false): StampCheck {
    const identity = requestIdentity(this.root, request.mode, request.patterns);
    return checkUpToDateStamp(stampFile(this.stateDir, identity), KILN_VERSION, identity, request.hostEnv, { changesWhenUpToDate, kept: this.keptStamp });
  }

  recordResult(label: string, key: string, outputs: OutputRecord[]): void {
    if (this.lastResults.get(label)?.key === key) return;
    this.lastResults.set(label, { key, outputs });
    this.changedKeys.add(label);
  }

  /**
   * One build, start to end: load, resolve, bundle step modules, key, run, record. Stopped early
   * (running commands ended, state saved) when `signal` aborts; its reason is reported back as
   * `interrupted`.
   */
  async build(request: BuildRequest, signal: AbortSignal): Promise<BuildResult> {
    forgetOutputDirectories();
    const trace = request.trace;
    const loadStart = performance.now();
    const loaded = await this.load(request.patterns);
    const analysisStart = performance.now();
    trace?.span("load", "load BUILD.ts files", loadStart, analysisStart, { packages: new Set([...loaded.graph.targets.values()].map((t) => t.pkg)).size });
    if (trace) this.statCache.onHashed = (path, size, start, end) => trace.span("hash", relative(this.root, path) || path, start, end, { bytes: size });
    try {
      return await this.buildLoaded(request, loaded, analysisStart, signal);
    } finally {
      this.statCache.onHashed = undefined;
    }
  }

  private async buildLoaded(request: BuildRequest, loaded: LoadedWorkspace, analysisStart: number, signal: AbortSignal): Promise<BuildResult> {
    const trace = request.trace;
    const requested = this.resolvePatterns(loaded, request.patterns, { includeTests: request.mode === "test" });
    // The requested targets and everything they depend on: what needs bundles, tools and stamps.
    const memo = this.closureMemo;
    const sameRequest = memo !== undefined && memo.graph === loaded.graph && memo.requested.length === requested.length && memo.requested.every((label, i) => label === requested[i]);
    const { closure, outsideWarning } = sameRequest ? memo : this.closureOf(loaded.graph, requested);
    if (outsideWarning) request.reporter({ type: "warning", message: outsideWarning });
    const stepModules = await this.prepareStepModules(loaded.graph, closure);
    const tools = resolveTools(loaded.graph, closure, request.hostEnv.PATH);
    const stamps: StampContext = {
      root: this.root,
      stateDir: this.stateDir,
      graph: loaded.graph,
      closure,
      statCache: this.statCache,
      lastResults: this.lastResults,
      stepModuleFiles: (labels) => this.stepModuleFiles(loaded.graph, labels),
    };
    const unchanged = request.readCache ? unchangedSinceStamp(stamps, request.stampChanges, loaded.fromCache) : undefined;
    const finished: { label: string; key: string }[] = [];
    const startedOn = new Date().toISOString();
    // A Map, not an object: 100,000 labels as keys made an object in dictionary mode (~0.1 s).
    const run = new Map<string, LastRun["steps"][string]>();
    // What ran or failed: the step log records nothing of cached steps.
    const statuses = new Map<string, { status: StepStatus; ms: number }>();
    const reporter = (event: BuildEvent) => {
      if (event.type === "step" && event.status !== "cached") statuses.set(event.label, { status: event.status, ms: event.ms });
      if (event.type === "step" && event.status !== "failed") {
        finished.push({ label: event.label, key: event.key });
        run.set(event.label, { key: event.key, status: event.status });
      }
      request.reporter(event);
    };
    const sourceNames = new Set<string>();
    for (const label of closure) {
      for (const inputs of Object.values(loaded.graph.targets.get(label)!.inputs)) {
        for (const input of inputs) if (input.kind === "external") sourceNames.add(input.name);
      }
    }

    trace?.span("analysis", "analysis: patterns, closure, step bundles, tools", analysisStart, performance.now(), { targets: closure.length });
    const store = await LocalStore.open(request.cacheDir, this.statCache);
    store.onWarning = (message) => reporter({ type: "warning", message });
    const tempDir = join(this.stateDir, "tmp");
    mkdirSync(tempDir, { recursive: true });
    for (const dir of [join(this.stateDir, "sandbox"), tempDir, join(store.dir, "tmp")]) removeAbandonedSandboxes(dir);
    const local = new LocalActionCache(store, this.statCache, reporter, tempDir);
    let cache: ActionCache = local;
    if (request.remote) {
      // Loaded only here: a build without a remote cache never loads the HTTP client or protobuf.
      const { RemoteCache } = await import("../cache/remote/remote-cache.js");
      cache = new TieredCache(local, new RemoteCache(request.remote, store, reporter));
    }
    const executor = new LocalExecutor({
      root: this.root,
      stateDir: this.stateDir,
      jobs: request.jobs,
      statCache: this.statCache,
      tools,
      blobs: cache,
      sandbox: request.sandbox ?? loaded.manifest.sandbox ?? "auto",
      hostPath: request.hostEnv.PATH,
      reporter,
      heldSandboxes: this.heldSandboxes,
    });
    let outcome: BuildOutcome;
    let requestedOutputs: string[];
    let sources: Map<string, ResolvedSource> | undefined;
    const sourceStore = request.sourceCacheDir ? await LocalStore.open(request.sourceCacheDir, this.statCache) : store;
    try {
      if (sourceNames.size > 0) {
        sources = await resolveBuildSources(
          { root: this.root, sources: loaded.manifest.sources, store: sourceStore, statCache: this.statCache, warn: (message) => request.reporter({ type: "warning", message }) },
          [...sourceNames],
          readLockFile(this.root),
          request.locked ?? false,
        );
      } else if (request.locked) {
        readLockFile(this.root); // a malformed lock is refused even when no source is read
      }
      try {
        outcome = await runBuild({
          root: this.root,
          graph: loaded.graph,
          labels: closure.filter((label) => loaded.graph.targets.get(label)!.spec.action !== "files"),
          jobs: request.jobs,
          keepGoing: request.keepGoing,
          readCache: request.readCache,
          explain: request.explain,
          cache,
          executor,
          keys: { statCache: this.statCache, stepModules, tools, hostEnv: request.hostEnv, platform: platformIdentity(), sources },
          lastResults: this.lastResults,
          unchanged,
          reporter,
          signal,
          onScheduler: request.onScheduler,
          trace,
        });
        requestedOutputs = requestedOutputsOf(this.root, loaded.graph, requested, outcome);
        request.onOutcome?.(outcome, requestedOutputs);
      } finally {
        await executor.close();
      }
      for (const [label, result] of outcome.results) this.recordResult(label, result.key, result.outputs);
    } finally {
      // Uploads finish (or are reported failed) before the build returns.
      await cache.close();
      this.save();
      await store.close();
      if (sourceStore !== store) await sourceStore.close();
      // Bounded by default: past the cap, a detached gc trims the cache; this build does not wait.
      trimInBackground(store.dir, store.bytesInserted, request.cacheMaxBytes !== undefined ? request.cacheMaxBytes : (loaded.manifest.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES));
    }

    try {
      // For \`kiln cache stats\`' hit rate; the cache's own memory, never worth failing a build over.
      recordBuild(store.dir, outcome.summary);
    } catch {
      // a read-only or full cache dir was reported by the store already
    }
    writeFileAtomic(join(this.stateDir, LAST_RUN_FILE), lastRunJson({ invocationId: randomUUID(), startedOn, finishedOn: new Date().toISOString() }, run));
    recordStepStatuses(this.stateDir, statuses);
    // The live files and directories of the path sources read: for the stamp and for watch mode.
    const liveSources = new Map([...sourceNames].map((name) => [name, liveFilesOf(this.root, loaded.manifest.sources[name]!)]));
    if (outcome.failed.length === 0 && !outcome.interrupted && request.readCache) {
      // Sources are checked by the normal path (drift warnings, snapshots): the fast path watches
      // kiln.lock and every live file and directory of the path sources read.
      const sourceFiles: string[] = [];
      if (sourceNames.size > 0) sourceFiles.push(join(this.root, LOCK_FILE));
      for (const live of liveSources.values()) sourceFiles.push(...live.files, ...live.directories);
      if (unchanged && request.stampChanges) rerecordUpToDate(stamps, request.stampChanges, unchanged, finished);
      else {
        const identity = requestIdentity(this.root, request.mode, request.patterns);
        recordUpToDate(stamps, identity, request.hostEnv, [...loaded.filesRead, ...sourceFiles], this.directoryStamps(), outcome.outputs, finished, requestedOutputs);
      }
    }
    const pathSourceFiles = new Map([...liveSources].map(([name, live]) => [name, live.files]));
    return { ...outcome, requested, requestedOutputs, read: { graph: loaded.graph, closure, loadFiles: loaded.filesRead, sourceFiles: pathSourceFiles } };
  }

  private closureOf(graph: BuildGraph, requested: readonly string[]): { closure: string[]; outsideWarning: string | undefined } {
    const closure = [...transitiveClosure(graph, requested)];
    const outsideWarning = sourcesOutsideWarning(graph, closure);
    this.closureMemo = { graph, requested: [...requested], closure, outsideWarning };
    return { closure, outsideWarning };
  }

  /** From now on, builds keep their large sandboxes with the session instead of parking them. */
  holdSandboxes(): void {
    this.heldSandboxes ??= new Map();
  }

  /** Parks the sandboxes the session holds (watch mode's end), for a later build to claim. */
  parkHeldSandboxes(): void {
    if (this.heldSandboxes) new SandboxPool(join(this.stateDir, "sandbox"), this.heldSandboxes).parkHeld();
  }

  /** Persists what this session learned; safe to call after a failed build too. */
  save(): void {
    this.statCache.save();
    this.lastResultsFile.write(this.lastResults, this.changedKeys);
    this.changedKeys.clear();
  }

  private sourceResolver(): SourceResolver {
    const root = this.root;
    const checkLinks = sourceLinkChecker(root, OUTPUT_DIR);
    /** Where each path really is: an error, or a map of those outside the workspace. */
    const locate = (paths: string[], ref: string): { paths: string[]; outside?: Map<string, string> } | { error: string } => {
      let outside: Map<string, string> | undefined;
      for (const path of paths) {
        const check = checkLinks(path, ref);
        if (check.kind === "error") return { error: check.message };
        if (check.kind === "outside") (outside ??= new Map()).set(path, check.real);
      }
      return outside ? { paths, outside } : { paths };
    };
    return (pkg, ref) => {
      const isGlob = /[*?[\]{}]/.test(ref);
      const joined = posix.normalize(pkg === "" ? ref : `${pkg}/${ref}`);
      if (ref.startsWith("/") || joined.startsWith("../") || joined === "..") {
        return { error: `input "${ref}" is outside the workspace; name it as a source in ${WORKSPACE_FILE}` };
      }
      if (joined === OUTPUT_DIR || joined.startsWith(`${OUTPUT_DIR}/`)) {
        return { error: `input "${ref}" is inside ${OUTPUT_DIR}/; depend on the target that makes it (//pkg:name) instead` };
      }
      if (isGlob) {
        const matches = globSync(ref, {
          cwd: join(root, pkg),
          onlyFiles: true,
          // node_modules only when the pattern names it (a typecheck needs declarations from it).
          ignore: [...(ref.startsWith("node_modules/") ? [] : ["**/node_modules/**"]), `**/${OUTPUT_DIR}/**`, `**/${BUILD_FILE}`],
          expandDirectories: false,
        });
        if (matches.length === 0) return { error: `glob "${ref}" matches no files in //${pkg}` };
        return locate(matches.map((m) => posix.normalize(pkg === "" ? m : `${pkg}/${m}`)).sort(), ref);
      }
      let stat;
      try {
        stat = statPath(join(root, joined));
      } catch {
        // a path through a file (ENOTDIR) does not exist either
      }
      // A link to nothing is reported as the link it is (locate says so).
      if (!stat) return locate([joined], ref);
      if (!stat.isFile) return { error: `input "${ref}" (${joined}) is not a file` };
      return locate([joined], ref);
    };
  }
}

/** Where the requested targets' outputs are (absolute), listed when at most OUTPUTS_LISTED_UP_TO targets were asked for. */
function requestedOutputsOf(root: string, graph: BuildGraph, requested: readonly string[], outcome: BuildOutcome): string[] {
  const paths: string[] = [];
  if (requested.length > OUTPUTS_LISTED_UP_TO) return paths;
  for (const label of requested) {
    const target = graph.targets.get(label)!;
    const dir = join(root, outputDir(target.pkg, target.name));
    for (const record of outcome.outputs.get(label) ?? []) paths.push(join(dir, record.name));
  }
  return paths;
}

/**
 * JSON.stringify of the LastRun with `steps` as an object of `run`'s entries in order, written
 * without making that object. Labels ("//pkg:name") are never integer-like keys, which an
 * object would have put first.
 */
export function lastRunJson(head: Omit<LastRun, "steps">, run: ReadonlyMap<string, LastRun["steps"][string]>): string {
  const steps: string[] = [];
  for (const [label, step] of run) steps.push(`${JSON.stringify(label)}:${JSON.stringify(step)}`);
  return `${JSON.stringify(head).slice(0, -1)},"steps":{${steps.join(",")}}}`;
}

/** Beyond this many sources outside the workspace, the warning only counts the rest. */
const OUTSIDE_SOURCES_LISTED = 5;

/**
 * One warning a build for the sources it needs that are links leading out of the workspace:
 * their content is read and keyed, but a checkout of the workspace elsewhere will not have them.
 * Found when the graph was resolved (source-links.ts), so this reads no file.
 */
function sourcesOutsideWarning(graph: BuildGraph, closure: readonly string[]): string | undefined {
  const outside = new Map<string, string>();
  for (const label of closure) {
    for (const inputs of Object.values(graph.targets.get(label)!.inputs)) {
      for (const input of inputs) if (input.kind === "source" && input.outside !== undefined) outside.set(input.path, input.outside);
    }
  }
  if (outside.size === 0) return undefined;
  const sorted = [...outside].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const listed = sorted.slice(0, OUTSIDE_SOURCES_LISTED).map(([path, real]) => `${path} -> ${real}`);
  if (sorted.length > OUTSIDE_SOURCES_LISTED) listed.push(`and ${sorted.length - OUTSIDE_SOURCES_LISTED} more`);
  const one = sorted.length === 1;
  return (
    `${one ? "a source is a symbolic link" : `${sorted.length} sources are symbolic links`} leading out of the workspace ` +
    `(${listed.join(", ")}): ${one ? "its" : "their"} content is read and keyed, but a checkout of the workspace elsewhere will not have ${one ? "it" : "them"}; ` +
    `copy ${one ? "it" : "them"} into the workspace`
  );
}

function referencedPackages(target: LoadedTarget): string[] {
  const pkgs: string[] = [];
  for (const refs of Object.values(target.spec.srcs)) {
    for (const ref of refs) {
      if (!isLabelReference(ref)) continue;
      try {
        pkgs.push(parseLabel(ref, target.pkg).pkg);
      } catch {
        // reported by the graph with the target's location
      }
    }
  }
  return pkgs;
}

function formatPattern(pattern: Pattern): string {
  switch (pattern.kind) {
    case "label":
      return pattern.label;
    case "package":
      return `//${pattern.pkg}:all`;
    case "recursive":
      return pattern.pkg === "" ? "//..." : `//${pattern.pkg}/...`;
  }
}

function resolveTools(graph: BuildGraph, closure: readonly string[], path: string | undefined): Map<string, Tool> {
  const tools = new Map<string, Tool>();
  for (const label of closure) {
    for (const name of graph.targets.get(label)!.spec.tools ?? []) {
      if (!tools.has(name)) tools.set(name, resolveTool(name, path));
    }
  }
  return tools;
}
