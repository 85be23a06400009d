/**
 * `kiln build` and `kiln test`: the command line's side of a build. It parses what was asked,
 * turns Ctrl-C and SIGTERM into an abort, renders the session's events, and picks the exit code;
 * the build itself is WorkspaceSession.build.
 */
import { availableParallelism } from "node:os";
import { relative } from "node:path";
import { defaultCacheDir } from "../cache/local-store.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import type { StampChanges } from "../state/up-to-date-stamp.js";
import type { SandboxChoice } from "../exec/namespace-sandbox.js";
import { BuildReporter, type ReporterMode } from "./reporter.js";
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
  locked?: boolean;
  provenance?: boolean;
}

/** Exit codes of an interrupted build, as shells report a command killed by the signal: 128 + n. */
const INTERRUPTED_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export async function runBuildCommand(
  patternTexts: string[],
  options: BuildCommandOptions,
  mode: "build" | "test",
  stampChanges?: StampChanges,
): Promise<number> {
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const patterns = parsePatterns(patternTexts, currentPackage(session.root, process.cwd()));
  const reporterMode: ReporterMode = options.json ? "json" : process.stderr.isTTY ? "terminal" : "plain";
  let requestedOutputs: string[] = [];
  // Where the requested targets' outputs are, listed before the summary line (which ends the output).
  const listOutputs = () => (requestedOutputs.length > 0 ? ["outputs:", ...requestedOutputs.map((path) => `  ${relative(process.cwd(), path)}`)] : []);
  const reporter = new BuildReporter(reporterMode, process.stdout, process.stderr, listOutputs);

  // The first Ctrl-C or SIGTERM stops the build: running commands get SIGTERM, then SIGKILL
  // after 2 s, and the build returns once every one has ended. Later signals change nothing.
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) controller.abort(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let result;
  try {
    result = await session.build(
      {
        mode,
        patterns,
        jobs: options.jobs ?? availableParallelism(),
        keepGoing: options.keepGoing ?? false,
        readCache: options.cache !== false,
        explain: options.explain ?? false,
        cacheDir: options.cacheDir ?? defaultCacheDir(process.env),
        sandbox: options.sandbox ?? "auto",
        hostEnv: process.env,
        reporter: (event) => reporter.handle(event),
        stampChanges,
        locked: options.locked ?? false,
      },
      controller.signal,
    );
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  requestedOutputs = result.requestedOutputs;
  if (options.provenance && result.failed.length === 0 && !result.interrupted) {
    const { writeProvenance } = await import("./provenance-command.js");
    const files = await writeProvenance(session, options.cacheDir ?? defaultCacheDir(process.env), result.requested);
    requestedOutputs = [...requestedOutputs, ...files];
  }
  reporter.handle(result.summary);
  if (result.interrupted) return INTERRUPTED_EXIT[result.interrupted] ?? 130;
  // A step that failed because of the machine (a source removed mid-build, a full disk) is exit 2.
  if (result.environmentFaults.length > 0) return 2;
  return result.failed.length > 0 ? 1 : 0;
}
