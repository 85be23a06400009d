/**
 * `kiln build` when nothing changed: checks the up-to-date stamp of this exact request and, if it
 * holds, prints what a fully cached build prints. bin/kiln.cjs loads this module as a bundle of its
 * own, before commander and the rest of kiln, so it reads its command line by hand and imports
 * only what the check needs: a no-op build pays for no graph, no hashing, no LMDB and no commander.
 */
import { isAbsolute, relative, sep } from "node:path";
import { inputError } from "../errors.js";
import { KILN_VERSION } from "../kiln-install.js";
import { checkUpToDateStamp, requestIdentity, stampFile, type StampChanges } from "../state/up-to-date-stamp.js";
import { stateDirOf } from "../state/workspace-state.js";
import { LabelSyntaxError, parsePattern, type Pattern } from "../workspace/label.js";
import { findWorkspaceRoot } from "../workspace/root.js";
import type { StepEvent, SummaryEvent } from "../events.js";
import { cachedLine, formatSummary } from "./reporter.js";
import type { BuildCommandOptions } from "./build-command.js";
import { serverCallFor, type ServerCall } from "../server/server-client.js";
// bin/kiln.cjs calls it from this bundle when answerIfUpToDate found a server.
export { buildOnServer } from "../server/server-client.js";
import type { UpToDateRecord } from "../state/up-to-date-stamp.js";

/**
 * Patterns from the command line; `:name` means a target of the package the command runs in
 * (`currentPkg`, the working directory relative to the root), as in Bazel.
 */
export function parsePatterns(texts: readonly string[], currentPkg?: string): Pattern[] {
  return (texts.length > 0 ? texts : ["//..."]).map((text) => {
    try {
      if (text.startsWith(":")) {
        if (currentPkg === undefined) throw inputError(`${text}: the working directory is outside the workspace; write //pkg${text}`);
        return parsePattern(`//${currentPkg}${text}`);
      }
      return parsePattern(text);
    } catch (error) {
      if (error instanceof LabelSyntaxError) throw inputError(error.message);
      throw error;
    }
  });
}

/** The package the working directory is in, relative to the workspace root; undefined outside it. */
export function currentPackage(root: string, cwd: string): string | undefined {
  const rel = relative(root, cwd);
  if (rel.startsWith("..") || isAbsolute(rel)) return undefined;
  return rel.split(sep).join("/");
}

/** What `-j` accepts: a positive whole number. */
export function isJobCount(value: string): boolean {
  const jobs = Number(value);
  return Number.isInteger(jobs) && jobs >= 1;
}

/** A `build` or `test` command line as the fast path (and a kiln server's client) needs it. */
export interface UpToDateRequest {
  mode: "build" | "test";
  patterns: string[];
  options: BuildCommandOptions & { server?: boolean };
}

/** Options of build and test (and the global ones) that take a value, and those that do not. */
// The remote cache options too: an up-to-date build never consults the remote cache.
const VALUE_OPTIONS = new Set(["-j", "--jobs", "-C", "--workspace", "--cache-dir", "--sandbox", "--remote-cache"]);
const FLAG_OPTIONS = new Set(["-k", "--keep-going", "--json", "--verbose", "--remote-upload", "-q", "--quiet", "--no-server"]);
const SANDBOX_CHOICES = new Set(["auto", "strict", "bwrap", "unshare", "dir"]);

/**
 * Reads `kiln build|test [patterns] [options]` without commander, values given apart or joined
 * (`-j 2`, `-j2`, `--jobs=2`). Anything else (another command, an option before the command,
 * `--no-cache`, `--explain`, `--help`, combined flags, a value commander would reject) returns
 * undefined: commander then parses and validates the command line as usual, and the build
 * command may still take the fast path.
 */
export function readUpToDateRequest(argv: readonly string[]): UpToDateRequest | undefined {
  const [mode, ...rest] = argv;
  if (mode !== "build" && mode !== "test") return undefined;
  const request: UpToDateRequest = { mode, patterns: [], options: {} };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (!arg.startsWith("-")) {
      request.patterns.push(arg);
    } else if (FLAG_OPTIONS.has(arg)) {
      if (arg === "--json") request.options.json = true;
      if (arg === "-q" || arg === "--quiet") request.options.quiet = true;
      if (arg === "-k" || arg === "--keep-going") request.options.keepGoing = true;
      if (arg === "--remote-upload") request.options.remoteUpload = true;
      if (arg === "--no-server") request.options.server = false;
      if (arg === "--verbose") request.options.verbose = true;
    } else {
      // `--name value`, `--name=value`, or a short option with its value joined (`-j2`, `-Cdir`).
      const joined = arg.startsWith("--") ? arg.indexOf("=") : arg.length > 2 ? 2 : -1;
      const name = joined < 0 ? arg : arg.slice(0, joined);
      if (!VALUE_OPTIONS.has(name)) return undefined;
      const value = joined < 0 ? rest[++i] : arg.slice(arg.startsWith("--") ? joined + 1 : joined);
      if (value === undefined || value === "" || value.startsWith("-")) return undefined;
      if ((name === "-j" || name === "--jobs") && !isJobCount(value)) return undefined;
      if (name === "--sandbox" && !SANDBOX_CHOICES.has(value)) return undefined;
      if (name === "-C" || name === "--workspace") request.options.workspace = value;
      if (name === "-j" || name === "--jobs") request.options.jobs = Number(value);
      if (name === "--cache-dir") request.options.cacheDir = value;
      if (name === "--sandbox") request.options.sandbox = value as BuildCommandOptions["sandbox"];
      if (name === "--remote-cache") request.options.remoteCache = value;
    }
  }
  return request;
}

/**
 * What the fast path made of a command line: `code` when the stamp answered it; otherwise whether
 * the stamp was checked (and did not hold), so that the normal path does not check it again, and
 * what the check found changed (the build re-keys only the targets those files belong to).
 * bin/kiln.cjs hands it from the fast path's bundle to main()'s: plain data and one closure.
 */
export interface UpToDateOutcome {
  code?: number;
  checked: boolean;
  changes?: StampChanges;
  /** The workspace has a kiln server: bin/kiln.cjs hands it the build, unchecked here (it checks faster). */
  server?: ServerCall;
  /** The server was asked and could not build it: build in this process. */
  serverTried?: boolean;
}

/**
 * Whether the up-to-date stamp may answer a build with these options: not when it asks for work
 * (--no-cache), explanations, a lock check, provenance or a profile, which only a build gives.
 */
export function stampMayAnswer(options: BuildCommandOptions): boolean {
  return options.cache !== false && !options.explain && !options.locked && !options.provenance && !options.profile;
}

/** The fast path for a whole command line. */
export function answerIfUpToDate(argv: readonly string[]): UpToDateOutcome {
  const request = readUpToDateRequest(argv);
  if (!request) return { checked: false };
  const server = serverFor(request);
  if (server) return { checked: false, server };
  return { ...tryUpToDate(request.patterns, request.options, request.mode), checked: true };
}

/** The server call for this request when its workspace has a server; errors are the normal path's to report. */
function serverFor(request: UpToDateRequest): ServerCall | undefined {
  try {
    return serverCallFor(findWorkspaceRoot(process.cwd(), request.options.workspace), request.mode, request.patterns, request.options);
  } catch {
    return undefined;
  }
}

/**
 * The exit code of an up-to-date build after printing its result; without a code, build
 * normally (with the changes the check found, if any).
 */
export function tryUpToDate(
  patternTexts: string[],
  options: { workspace?: string; json?: boolean; quiet?: boolean },
  mode: "build" | "test",
): { code?: number; changes?: StampChanges } {
  // Date.now(), not performance.now(): the first use of `performance` loads perf_hooks (~0.7 ms).
  const started = Date.now();
  let root: string;
  let patterns: Pattern[];
  try {
    root = findWorkspaceRoot(process.cwd(), options.workspace);
    patterns = parsePatterns(patternTexts, currentPackage(root, process.cwd()));
  } catch {
    return {}; // the normal path reports it
  }
  const request = requestIdentity(root, mode, patterns);
  const { upToDate: record, changes } = checkUpToDateStamp(stampFile(stateDirOf(root), request), KILN_VERSION, request, process.env);
  if (!record) return { changes };
  process.stdout.write(upToDateText(record, options, Date.now() - started, process.cwd()));
  return { code: 0 };
}

/** What a fully cached build prints, for an up-to-date record (the fast path's and a server's answer). */
export function upToDateText(record: UpToDateRecord, options: { json?: boolean; quiet?: boolean }, ms: number, cwd: string): string {
  const count = record.steps.length;
  const summary: SummaryEvent = {
    type: "summary",
    steps: count,
    executed: 0,
    cached: count,
    cachedLocal: count,
    cachedRemote: 0,
    failed: 0,
    ms,
  };
  const out: string[] = [];
  if (options.json) {
    for (const { label, key } of record.steps) {
      const event: StepEvent = { type: "step", label, status: "cached", cache: "local", key, ms: 0 };
      out.push(JSON.stringify(event));
    }
    out.push(JSON.stringify(summary));
  } else if (!options.quiet) {
    if (count > 0) out.push(cachedLine(record.steps.map((s) => s.label)));
    if (record.requestedOutputs.length > 0) {
      out.push("outputs:", ...record.requestedOutputs.map((path) => `  ${relative(cwd, path)}`));
    }
    out.push(formatSummary(summary));
  } else out.push(formatSummary(summary));
  return `${out.join("\n")}\n`;
}
