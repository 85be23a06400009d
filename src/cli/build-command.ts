/**
 * `kiln build` and `kiln test`: the command line's side of a build. It parses what was asked,
 * turns Ctrl-C and SIGTERM into an abort, renders the session's events, and picks the exit code;
 * the build itself is WorkspaceSession.build.
 */
import { availableParallelism } from "node:os";
import { renameSync, writeFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { KILN_VERSION } from "../kiln-install.js";
import { toTrace, TraceRecorder } from "../profile/trace-recorder.js";
import { defaultCacheDir } from "../cache/local-store.js";
import type { RemoteCacheSettings } from "../cache/remote/remote-cache.js";
import { inputError } from "../errors.js";
import { parseCacheCap } from "../byte-size.js";
import { WorkspaceSession, type BuildRequest } from "../session/workspace-session.js";
import type { Pattern } from "../workspace/label.js";
import type { StampChanges } from "../state/up-to-date-stamp.js";
import type { SandboxChoice } from "../exec/namespace-sandbox.js";
import type { BuildOutcome } from "../exec/builder.js";
import { BuildReporter, colorWanted, reporterModeFor, type Output, type ReporterMode } from "./reporter.js";
import { readStepStatuses } from "../state/step-statuses.js";
import { currentPackage, parsePatterns } from "./up-to-date.js";

export interface BuildCommandOptions {
  workspace?: string;
  cacheDir?: string;
  verbose?: boolean;
  jobs?: number;
  keepGoing?: boolean;
  cache?: boolean;
  explain?: boolean;
  json?: boolean;
  sandbox?: SandboxChoice;
  remoteCache?: string;
  remoteInstance?: string;
  remoteUpload?: boolean;
  locked?: boolean;
  provenance?: boolean;
  /** --profile: where the build's trace-event JSON goes. */
  profile?: string;
  /** -q: the summary (and failures) only. */
  quiet?: boolean;
}

/** Exit codes of an interrupted build, as shells report a command killed by the signal: 128 + n. */
const INTERRUPTED_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** A stream a build command writes to, as much of a terminal as the reporter asks about. */
export interface CommandOutput extends Output {
  isTTY?: boolean;
  columns?: number;
}

/**
 * What a build command runs in: this process's directory, environment, streams and signals, or
 * those of a client a kiln server builds for (src/server/build-server.ts).
 */
export interface CommandIO {
  cwd: string;
  env: NodeJS.ProcessEnv;
  stdout: CommandOutput;
  stderr: CommandOutput;
  /** Calls `stop` on the first Ctrl-C or SIGTERM; returns what unsubscribes it. */
  onStop(stop: (signal: string) => void): () => void;
  /**
   * A kiln server: told the exit code as soon as the outcome is known and its outputs are in
   * kiln-out, before kiln records the build, so that its client need not wait for the recording.
   */
  answered?: (code: number) => void;
}

export function processIO(): CommandIO {
  return {
    cwd: process.cwd(),
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    onStop(stop) {
      const onSignal = (signal: NodeJS.Signals) => stop(signal);
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      return () => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      };
    },
  };
}

export async function runBuildCommand(
  patternTexts: string[],
  options: BuildCommandOptions,
  mode: "build" | "test",
  stampChanges?: StampChanges,
  io: CommandIO = processIO(),
  resident?: WorkspaceSession,
): Promise<number> {
  const session = resident ?? WorkspaceSession.open(io.cwd, options.workspace);
  const patterns = parsePatterns(patternTexts, currentPackage(session.root, io.cwd));
  const reporterMode: ReporterMode = reporterModeFor(options.json === true, io.stderr, io.env);
  let requestedOutputs: string[] = [];
  // Where the requested targets' outputs are, listed before the summary line (which ends the output).
  const listOutputs = () => (requestedOutputs.length > 0 ? ["outputs:", ...requestedOutputs.map((path) => `  ${relative(io.cwd, path)}`)] : []);
  const history = new Map<string, number>();
  if (reporterMode === "terminal") for (const [label, record] of readStepStatuses(session.stateDir)) if (record.ms > 0) history.set(label, record.ms);
  const reporter = new BuildReporter(reporterMode, io.stdout, io.stderr, listOutputs, {
    quiet: options.quiet,
    color: colorWanted(io.env),
    history,
    jobs: options.jobs ?? availableParallelism(),
    columns: io.stderr.columns,
  });

  // The first Ctrl-C or SIGTERM stops the build: running commands get SIGTERM, then SIGKILL
  // after 2 s, and the build returns once every one has ended. Later signals change nothing.
  const controller = new AbortController();
  const unsubscribe = io.onStop((signal) => {
    if (!controller.signal.aborted) controller.abort(signal);
  });
  const recorder = options.profile ? new TraceRecorder() : undefined;
  // A server answers at the outcome, unless something written after the build is asked for.
  const answered = options.provenance || options.profile ? undefined : io.answered;
  let early = false;
  let result;
  try {
    result = await session.build(
      {
        ...buildRequestOf(options, mode, patterns, { keepGoing: false }, io.env),
        reporter: (event) => reporter.handle(event),
        stampChanges,
        locked: options.locked ?? false,
        trace: recorder,
        onOutcome: answered
          ? (outcome, outputs) => {
              early = true;
              requestedOutputs = outputs;
              reporter.handle(outcome.summary);
              answered(exitCodeOf(outcome));
            }
          : undefined,
      },
      controller.signal,
    );
  } finally {
    unsubscribe();
    if (recorder && options.profile) writeProfile(options.profile, recorder, patternTexts, options, io);
  }
  if (early) return exitCodeOf(result);
  requestedOutputs = result.requestedOutputs;
  if (options.provenance && result.failed.length === 0 && !result.interrupted) {
    const { writeProvenance } = await import("./provenance-command.js");
    const files = await writeProvenance(session, options.cacheDir ?? defaultCacheDir(io.env), result.requested);
    requestedOutputs = [...requestedOutputs, ...files];
  }
  reporter.handle(result.summary);
  const targets = result.read.graph.targets.size;
  const hintFrom = Number(io.env.KILN_SERVER_HINT_FROM) || SERVER_HINT_FROM_TARGETS;
  if (!resident && reporterMode === "terminal" && !options.quiet && targets >= hintFrom) {
    io.stderr.write(`kiln: hint: ${targets.toLocaleString("en-US")} targets are read from .kiln/ on every build; \`kiln server start\` keeps them in memory and builds here start sooner\n`);
  }
  return exitCodeOf(result);
}

/** From this many targets (KILN_SERVER_HINT_FROM for tests) a one-off build on a terminal suggests kiln server: reading them costs seconds. */
const SERVER_HINT_FROM_TARGETS = 20_000;

/** 130/143 interrupted; 2 when a step failed because of the machine (a source removed mid-build, a full disk); 1 a step failed. */
function exitCodeOf(outcome: BuildOutcome): number {
  if (outcome.interrupted) return INTERRUPTED_EXIT[outcome.interrupted] ?? 130;
  if (outcome.environmentFaults.length > 0) return 2;
  return outcome.failed.length > 0 ? 1 : 0;
}

/** What the build flags ask of a session's build (all but the reporter and the fast path's findings). */
export function buildRequestOf(
  options: BuildCommandOptions,
  mode: "build" | "test",
  patterns: Pattern[],
  defaults: { keepGoing: boolean },
  env: NodeJS.ProcessEnv = process.env,
): Omit<BuildRequest, "reporter"> {
  return {
    mode,
    patterns,
    jobs: options.jobs ?? availableParallelism(),
    keepGoing: options.keepGoing ?? defaults.keepGoing,
    readCache: options.cache !== false,
    explain: options.explain ?? false,
    cacheDir: options.cacheDir ?? defaultCacheDir(env),
    remote: remoteSettings(options, env),
    sandbox: options.sandbox,
    hostEnv: env,
    cacheMaxBytes: cacheCapFromEnv(env),
  };
}

/** KILN_CACHE_MAX_SIZE ("20G", "off"), which wins over WORKSPACE.ts's cacheMaxSize; undefined when unset. */
export function cacheCapFromEnv(env: NodeJS.ProcessEnv): number | null | undefined {
  const text = env.KILN_CACHE_MAX_SIZE;
  if (text === undefined || text === "") return undefined;
  const cap = parseCacheCap(text);
  if (cap === undefined) throw inputError(`KILN_CACHE_MAX_SIZE must be a size such as 10G or 500M, or off, not "${text}"`);
  return cap;
}

/**
 * The remote cache from --remote-cache or KILN_REMOTE_CACHE, with its credentials from the
 * environment only (a token on the command line would be in `ps` and shell history).
 */
export function remoteSettings(options: BuildCommandOptions, env: NodeJS.ProcessEnv): RemoteCacheSettings | undefined {
  const url = options.remoteCache ?? env.KILN_REMOTE_CACHE;
  if (!url) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  const from = options.remoteCache ? "--remote-cache" : "KILN_REMOTE_CACHE";
  if (!parsed || !["http:", "https:", "grpc:", "grpcs:"].includes(parsed.protocol)) {
    // Never echo the URL whole: it may carry a password.
    throw inputError(`the remote cache URL is not an http://, https://, grpc:// or grpcs:// URL (from ${from}); e.g. --remote-cache http://cache.internal:8080 or grpc://cache.internal:9092`);
  }
  const grpc = parsed.protocol === "grpc:" || parsed.protocol === "grpcs:";
  if (grpc && (parsed.pathname.replace(/^\/+/, "") !== "" || parsed.username || parsed.password || !parsed.port)) {
    throw inputError(`a gRPC remote cache URL is grpc://host:port with no path or user (from ${from}); name the instance with --remote-instance and the token with KILN_REMOTE_CACHE_TOKEN`);
  }
  const instance = options.remoteInstance ?? env.KILN_REMOTE_INSTANCE;
  if (instance && !grpc) throw inputError(`--remote-instance names a REAPI instance, for a grpc:// remote cache; ${from} is an HTTP one`);
  const timeout = Number(env.KILN_REMOTE_CACHE_TIMEOUT_MS);
  return {
    url,
    ...(instance ? { instance } : {}),
    token: env.KILN_REMOTE_CACHE_TOKEN || undefined,
    upload: options.remoteUpload === true || env.KILN_REMOTE_UPLOAD === "1",
    signingKey: env.KILN_REMOTE_CACHE_SIGNING_KEY || undefined,
    extraCaFile: env.NODE_EXTRA_CA_CERTS || undefined,
    timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : undefined,
  };
}

/** The trace, written whole (temp name, then rename) whether or not the build succeeded. */
function writeProfile(file: string, recorder: TraceRecorder, patterns: string[], options: BuildCommandOptions, io: CommandIO): void {
  const trace = toTrace(recorder.spans, { kiln: KILN_VERSION, patterns: patterns.join(" ") || "//...", jobs: options.jobs ?? availableParallelism() });
  const path = resolve(io.cwd, file);
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, JSON.stringify(trace));
  renameSync(temp, path);
  io.stderr.write(`kiln: profile written to ${relative(io.cwd, path) || path} (kiln analyze-profile ${file}; or open it in https://ui.perfetto.dev)\n`);
}
