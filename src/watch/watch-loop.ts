/**
 * `kiln watch`: one resident session, rebuilt on every change to what the build read. The
 * session keeps the loaded graph, the stat cache and the step bundles in memory, so a rebuild
 * pays for what changed, not for starting Node and reloading state.
 *
 * Events are hints and content decides: every rebuild first checks the request's up-to-date
 * stamp, a stat of every file the last result depends on, and re-keys the targets whose files
 * changed (from content, through the stat cache, whose file identity includes ctime and a racy
 * window: a save just after a read is never taken for unchanged); without a stamp it re-keys
 * everything. A missed event therefore delays a rebuild but never makes one wrong. Before each
 * rebuild a cookie file is written in .kiln/watch/ and its own event awaited: inotify reports
 * events in order, so every event of a burst that began before the build has arrived once the
 * cookie's has (Turborepo's and Watchman's cookies).
 * kiln-out/, .kiln/ (but its cookie directory), node_modules/, .git/ and the cache are never
 * watched: placing outputs must not trigger a rebuild.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, sep } from "node:path";
import type { BuildRequest, BuildResult, WorkspaceSession } from "../session/workspace-session.js";
import { OUTPUT_DIR, STATE_DIR } from "../workspace/root.js";
import { digestFile } from "../key/file-digest.js";
import { statPaths } from "../stat-batch.js";
import { sameStat, type FileStat } from "../key/file-identity.js";
import type { StepCanceller } from "../exec/scheduler.js";
import type { BuildOutcome } from "../exec/builder.js";
import type { StampChanges } from "../state/up-to-date-stamp.js";
import { indexReads, type ReadIndex } from "./read-index.js";
import { transition, type WatchAction, type WatchInput, type WatchPhase } from "./watch-state.js";
import { chokidarWatcher, type Watcher, type WatchEventKind } from "./watcher.js";

/** Quiet period after the last event of a burst before rebuilding. */
const DEBOUNCE_MS = 15;
/** When, after files are given to the watcher, they are stat'ed again for a save it missed while starting. */
const WATCH_START_CHECKS_MS = [250, 1500];
/** How long a cookie's event may take before the build goes ahead anyway. */
const COOKIE_TIMEOUT_MS = 1000;
/** Files that change what the graph means wherever they appear. */
const GRAPH_FILES = new Set(["BUILD.ts", "WORKSPACE.ts", "kiln.lock"]);
const NEVER_WATCHED = new Set([OUTPUT_DIR, "node_modules", ".git"]);

export interface WatchRebuild {
  /** The build's reporter for this rebuild. */
  reporter: BuildRequest["reporter"];
  /**
   * Called once every step is done and its outputs are in place, while kiln still records the
   * build's state (see BuildRequest.onOutcome): the moment to report the summary.
   */
  built(outcome: BuildOutcome): void;
  /**
   * Called when the build has returned: with its result, or the error that stopped it. `early`:
   * built() was called first (an error then came from recording the build's state).
   */
  finished(result: BuildResult | undefined, error: unknown, early: boolean): void;
}

export interface WatchOptions {
  session: WorkspaceSession;
  /** Everything a build needs but its reporter. */
  request: Omit<BuildRequest, "reporter" | "onScheduler" | "onOutcome">;
  poll: boolean;
  /** Starts one rebuild's output; `trigger`: the workspace paths whose events started it (none for the first). */
  beginRebuild(trigger: string[]): WatchRebuild;
  /** After each build: what is being watched. */
  watching(files: number): void;
  warn(message: string): void;
  /** Aborting stops watching: a running build is stopped, then the loop resolves. */
  signal: AbortSignal;
}

/** Runs until `signal` aborts (resolves 0) or the watcher cannot go on (resolves 2 after saying why). */
export async function runWatch(options: WatchOptions): Promise<number> {
  const { session } = options;
  const root = session.root;
  const cookieDir = join(session.stateDir, "watch");
  rmSync(cookieDir, { recursive: true, force: true });
  mkdirSync(cookieDir, { recursive: true });
  const cacheDir = options.request.cacheDir;

  let phase: WatchPhase = "running";
  let index: ReadIndex | undefined;
  const added = new Set<string>();
  let pending: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  let scheduler: StepCanceller | undefined;
  /**
   * The last build could not load the graph (a BUILD.ts error, a missing input): what it would
   * read is unknown, so any new or changed workspace file may be what fixes it.
   */
  let graphUnknown = false;
  let build: AbortController | undefined;
  let inBarrier = false;
  let exitCode = 0;
  let exit!: () => void;
  const exited = new Promise<void>((resolve) => (exit = resolve));
  const cookies = new Map<string, () => void>();
  let cookieCount = 0;

  const relevantFile = (path: string): boolean => {
    if (GRAPH_FILES.has(basename(path))) return true;
    if (graphUnknown && !relative(root, path).startsWith("..")) return true;
    if (!index) return false;
    if (index.files.has(path)) return true;
    for (const dir of index.globDirectories) if (path.startsWith(`${dir}/`)) return true;
    return false;
  };
  const ignored = (path: string, isFile: boolean | undefined): boolean => {
    if (path.startsWith(`${cookieDir}/`) || path === cookieDir) return false;
    if (path === cacheDir || path.startsWith(`${cacheDir}/`)) return true;
    const rel = relative(root, path);
    if (rel === "") return false;
    if (!rel.startsWith("..")) {
      const parts = rel.split(sep);
      if (parts[0] === STATE_DIR) return !(rel === STATE_DIR || cookieDir.startsWith(path));
      if (parts.some((part) => NEVER_WATCHED.has(part))) return true;
    }
    if (isFile !== true) return false;
    return !relevantFile(path);
  };

  const dispatch = (input: WatchInput) => {
    const next = transition(phase, input);
    phase = next.phase;
    for (const action of next.actions) perform(action);
  };
  const perform = (action: WatchAction) => {
    switch (action.type) {
      case "start-timer":
        clearTimeout(timer);
        timer = setTimeout(() => dispatch({ type: "timer" }), DEBOUNCE_MS);
        return;
      case "build":
        void rebuild();
        return;
      case "cancel-affected": {
        if (!scheduler) return;
        for (const path of action.paths) {
          // Unknown (the first build, a WORKSPACE.ts edit): every step under way may be obsolete.
          const labels = index?.affected(path) ?? scheduler.inFlight;
          scheduler.cancel(labels, `${relative(root, path)} changed`);
        }
        return;
      }
      case "abort-build":
        build?.abort("SIGINT");
        return;
      case "exit":
        exit();
        return;
    }
  };

  const onEvent = (kind: WatchEventKind, path: string) => {
    if (process.env.KILN_DEBUG_WATCH) process.stderr.write(`[watch] ${kind} ${path} (${phase})\n`);
    if (path.startsWith(`${cookieDir}/`)) {
      if (kind === "add") cookies.get(path)?.();
      return;
    }
    if (kind === "addDir") return; // what appears inside it is reported on its own
    if (kind !== "unlinkDir" && (ignored(path, true) || !relevantFile(path))) return;
    // A change to a file the build read is taken once its bytes differ from what the build
    // used: metadata alone (a link count, a timestamp, kiln's own reads) raises the same inotify
    // events, and taken as changes they would cancel and rebuild in a loop.
    if (kind === "change" || kind === "raw") takeChange(path);
    else hint(path);
  };
  /** A file that may have changed: judged by its bytes when the build read it, else a hint as it is. */
  const takeChange = (path: string) => {
    if (usedDigests.has(path)) void contentChanged(path).then((changed) => changed && hint(path, true));
    else hint(path);
  };
  /**
   * Paths hinted, since the last build ended, only because their bytes differed from what it
   * used; and whether anything was hinted otherwise (added, removed, a graph file, missed, or
   * during a build, which may have read either bytes).
   */
  const hintedByContent = new Set<string>();
  let hintedOtherwise = false;
  let building = false;
  const hint = (path: string, byContent = false) => {
    if (byContent && !building) hintedByContent.add(path);
    else hintedOtherwise = true;
    pending.push(path);
    if (inBarrier) return; // before this build started: it is part of it
    dispatch({ type: "change", paths: [path] });
  };
  /**
   * Digest of each read file as the last build used it, or as its last event found it since:
   * a metadata event (kiln's own links) after a real change is not taken again while the
   * rebuild runs.
   */
  const usedDigests = new Map<string, string>();
  /** For the files whose events changed their usedDigests entry since the last build: the build's. */
  const builtDigests = new Map<string, string | undefined>();
  const contentChanged = async (path: string): Promise<boolean> => {
    let now: string | undefined;
    try {
      now = (await digestFile(path)).digest;
    } catch {
      now = undefined; // gone or unreadable: the build says what is wrong
    }
    const used = usedDigests.get(path);
    if (now !== undefined && used === now) return false;
    if (!builtDigests.has(path)) builtDigests.set(path, used);
    if (now === undefined) usedDigests.delete(path);
    else usedDigests.set(path, now);
    return true;
  };
  /**
   * True when every path that started this rebuild was hinted for its bytes alone and holds the
   * bytes the last build used again: an editor's save caught mid-write (the truncation's event
   * read an empty file, the write's restored it) changed nothing, so nothing is rebuilt.
   */
  const unchangedSinceBuilt = async (trigger: readonly string[], byContentOnly: boolean): Promise<boolean> => {
    if (!byContentOnly || trigger.length === 0) return false;
    for (const path of trigger) {
      const built = builtDigests.get(path);
      if (built === undefined) return false;
      try {
        if ((await digestFile(path)).digest !== built) return false;
      } catch {
        return false;
      }
    }
    for (const path of trigger) {
      usedDigests.set(path, builtDigests.get(path)!);
      builtDigests.delete(path);
    }
    return true;
  };

  const watcher: Watcher = chokidarWatcher({
    roots: [root],
    ignored,
    poll: options.poll,
    onEvent,
    onError: (error) => {
      if (error.code === "ENOSPC" || error.code === "EMFILE") {
        options.warn(
          `cannot watch more files: the system's limit of inotify watches is reached (${error.code}). ` +
            `Raise it with \`sudo sysctl fs.inotify.max_user_watches=524288\` (persist it in /etc/sysctl.d/), or run \`kiln watch --poll\``,
        );
        exitCode = 2;
        dispatch({ type: "stop" });
        return;
      }
      options.warn(`file watching: ${error.message}`);
    },
  });

  /** Writes a cookie and waits for its event: every earlier event has been delivered then. */
  const barrier = async () => {
    const cookie = join(cookieDir, `cookie-${process.pid}-${++cookieCount}`);
    const seen = new Promise<void>((resolve) => {
      const timeout = setTimeout(resolve, COOKIE_TIMEOUT_MS);
      cookies.set(cookie, () => {
        clearTimeout(timeout);
        resolve();
      });
    });
    writeFileSync(cookie, "");
    await seen;
    cookies.delete(cookie);
    rmSync(cookie, { force: true });
  };

  const rebuild = async () => {
    clearTimeout(timer);
    inBarrier = true;
    try {
      await barrier();
    } finally {
      inBarrier = false;
    }
    const trigger = [...new Set(pending.splice(0))].sort();
    const byContentOnly = !hintedOtherwise && trigger.every((path) => hintedByContent.has(path));
    hintedByContent.clear();
    hintedOtherwise = false;
    building = true;
    if (await unchangedSinceBuilt(trigger, byContentOnly)) {
      building = false;
      if (process.env.KILN_DEBUG_WATCH) process.stderr.write(`[watch] ${trigger.length} paths hold the bytes the last build used: no rebuild\n`);
      dispatch({ type: "built" });
      return;
    }
    const output = options.beginRebuild(trigger.map((path) => relative(root, path)));
    build = new AbortController();
    const startedAt = Date.now();
    let early = false;
    try {
      // The stamp's stats, taken after the barrier, say which targets need new keys; the rest
      // stand as the last build left them (as for `kiln build` after its fast path's check).
      const checkStart = performance.now();
      const stampChanges = options.request.readCache ? session.stampChanges(options.request) : undefined;
      const buildStart = performance.now();
      // The summary before kiln records the build, once files are watched already: the first
      // build (or the first after a graph error) indexes and watches what it read before it
      // reports, so that a save the user makes on seeing the summary cannot fall between a file's
      // check for a missed change and chokidar's watch on it.
      const onOutcome =
        index !== undefined && !graphUnknown
          ? (outcome: BuildOutcome) => {
              early = true;
              output.built(outcome);
            }
          : undefined;
      const result = await session.build({ ...options.request, stampChanges, reporter: output.reporter, onScheduler: (s) => (scheduler = s), onOutcome }, build.signal);
      scheduler = undefined;
      graphUnknown = false;
      const indexStart = performance.now();
      const reindexed = watchWhatWasRead(result, startedAt, stampChanges);
      if (process.env.KILN_DEBUG_WATCH) {
        const ms = (from: number, to: number) => (to - from).toFixed(0);
        const changed = stampChanges ? `${stampChanges.changed.size} paths changed` : "no stamp";
        const indexing = reindexed ? "indexing reads" : "index kept, refreshing digests";
        process.stderr.write(`[watch] stamp check ${ms(checkStart, buildStart)} ms (${changed}), build ${ms(buildStart, indexStart)} ms, ${indexing} ${ms(indexStart, performance.now())} ms\n`);
      }
      output.finished(result, undefined, early);
    } catch (error) {
      scheduler = undefined;
      graphUnknown = true;
      output.finished(undefined, error, early);
    }
    if (process.env.KILN_DEBUG_WATCH) {
      const m = process.memoryUsage();
      process.stderr.write(`[watch] memory rss ${m.rss >> 20} heap ${m.heapUsed >> 20}/${m.heapTotal >> 20} external ${m.external >> 20} buffers ${m.arrayBuffers >> 20} MiB\n`);
    }
    building = false;
    builtDigests.clear();
    options.watching(added.size);
    dispatch({ type: "built" });
  };

  /** What the index was made from: a build that read the same needs no new index. */
  let indexedFrom: { graph: BuildResult["read"]["graph"]; closure: readonly string[]; files: string } | undefined;

  /**
   * Indexes what the build read and watches the files not watched yet. False when the index was
   * kept: the same graph object (the session made no new one: nothing was evaluated or resolved
   * again), the same closure, step-module files and path-source files, and a stamp check whose
   * changed paths are the only files whose digests may differ from the last build's.
   */
  const watchWhatWasRead = (result: BuildResult, startedAt: number, stampChanges: StampChanges | undefined): boolean => {
    const { graph, closure, loadFiles, sourceFiles } = result.read;
    const stepModuleFiles = new Map<string, string[]>();
    for (const label of closure) if (graph.targets.get(label)!.spec.action === "step") stepModuleFiles.set(label, session.stepModuleFiles(graph, [label]));
    // The closure compared label by label (100,000 of them made a 2 MB string each rebuild); the
    // files read, few, as one string.
    const files = JSON.stringify([loadFiles, [...stepModuleFiles], [...sourceFiles]]);
    const sameClosure = (earlier: readonly string[]) => earlier.length === closure.length && earlier.every((label, i) => label === closure[i]);
    if (index && stampChanges && indexedFrom?.graph === graph && indexedFrom.files === files && sameClosure(indexedFrom.closure)) {
      for (const file of stampChanges.changed) {
        if (!index.files.has(file)) continue;
        // An interrupted build may not have read the file: unknown, so its next event counts.
        const entry = result.interrupted ? undefined : session.statCache.entryOf(file);
        if (entry) usedDigests.set(file, entry.digest);
        else usedDigests.delete(file);
      }
      return false;
    }
    index = indexReads({ root, graph, closure, loadFiles, stepModuleFiles, sourceFiles });
    indexedFrom = { graph, closure, files };
    usedDigests.clear();
    for (const file of index.files) {
      const entry = session.statCache.entryOf(file);
      if (entry) usedDigests.set(file, entry.digest);
    }
    const fresh: string[] = [];
    const freshFiles: string[] = [];
    for (const file of index.files) {
      if (added.has(file)) continue;
      added.add(file);
      const inside = !relative(root, file).startsWith("..");
      // Outside the workspace (a path source, code imported from elsewhere): its directory.
      fresh.push(inside ? file : dirname(file));
      freshFiles.push(file);
    }
    // Changed while this build ran but watched only now: its event was missed, so make one.
    const freshStats = statPaths(freshFiles);
    const watchedAs = new Map<string, FileStat>();
    for (let i = 0; i < freshFiles.length; i++) {
      const stats = freshStats[i];
      if (stats === undefined || stats.ctimeMs >= startedAt - 5) pending.push(freshFiles[i]!);
      else watchedAs.set(freshFiles[i]!, stats);
    }
    for (const dir of index.globDirectories) {
      if (added.has(dir)) continue;
      added.add(dir);
      fresh.push(dir);
    }
    watcher.add(fresh);
    if (watchedAs.size > 0) checkAfterWatching(watchedAs);
    if (pending.length > 0) {
      hintedOtherwise = true; // missed events, not digests compared
      dispatch({ type: "change", paths: [...pending] }); // a rebuild once this ends
    }
    return true;
  };

  /**
   * chokidar starts watching what add() gives it later, on its own time (a stat, then an
   * inotify watch or, with --poll, a first stat that later ones are compared with): a save
   * between the add and that moment raises no event, though the summary that invited it was
   * already printed. So the files are stat'ed again a little later, twice, and one whose stat
   * moved since it was added is taken as an event is: by its bytes when the build read it.
   * One an event already reported compares equal to the digest that event took.
   */
  const checkTimers = new Set<NodeJS.Timeout>();
  const checkAfterWatching = (watchedAs: Map<string, FileStat>) => {
    for (const ms of WATCH_START_CHECKS_MS) {
      const timer = setTimeout(() => {
        checkTimers.delete(timer);
        if (phase === "stopping" || phase === "stopped") return;
        const paths = [...watchedAs.keys()];
        const now = statPaths(paths);
        for (let i = 0; i < paths.length; i++) {
          const path = paths[i]!;
          const before = watchedAs.get(path)!;
          const after = now[i];
          if (sameStat(before, after)) continue;
          if (after) watchedAs.set(path, after);
          else watchedAs.delete(path);
          takeChange(path);
        }
      }, ms);
      timer.unref();
      checkTimers.add(timer);
    }
  };

  const onStop = () => dispatch({ type: "stop" });
  if (options.signal.aborted) return 0;
  // The aggregator's sandbox stays with the session between rebuilds, parked when watching ends.
  session.holdSandboxes();
  options.signal.addEventListener("abort", onStop, { once: true });
  await watcher.ready();
  void rebuild();
  await exited;
  options.signal.removeEventListener("abort", onStop);
  clearTimeout(timer);
  for (const check of checkTimers) clearTimeout(check);
  await watcher.close();
  session.parkHeldSandboxes();
  rmSync(cookieDir, { recursive: true, force: true });
  return exitCode;
}
