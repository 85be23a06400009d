/**
 * `kiln watch`: builds, then rebuilds on every change to what the build read (watch/). Output
 * per rebuild: on a terminal the screen is cleared and a compact status shown; on a pipe plain
 * lines; with --json the same events as `kiln build --json`, one summary per rebuild. Ctrl-C
 * stops the running build (its commands end) and exits 0.
 */
import { formatError, inputError, KilnError } from "../errors.js";
import type { SandboxChoice } from "../exec/namespace-sandbox.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { runWatch } from "../watch/watch-loop.js";
import { buildRequestOf, type BuildCommandOptions } from "./build-command.js";
import { BuildReporter, colorWanted, reporterModeFor, type ReporterMode } from "./reporter.js";
import { currentPackage, parsePatterns } from "./up-to-date.js";

export interface WatchCommandOptions extends BuildCommandOptions {
  poll?: boolean;
  sandbox?: SandboxChoice;
}

/** Beyond this many, the trigger line counts the rest. */
const TRIGGER_PATHS_SHOWN = 3;

export async function runWatchCommand(patternTexts: string[], options: WatchCommandOptions): Promise<number> {
  // One trace per rebuild would overwrite itself: profile a single build instead.
  if (options.profile) throw inputError("--profile is for kiln build and kiln test (profile one build: kiln build --profile trace.json)");
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const patterns = parsePatterns(patternTexts, currentPackage(session.root, process.cwd()));
  const mode: ReporterMode = reporterModeFor(options.json === true, process.stderr, process.env);
  const say = (text: string) => process.stderr.write(`${text}\n`);
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) controller.abort(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await runWatch({
      session,
      poll: options.poll ?? false,
      signal: controller.signal,
      // -k by default: while editing, one broken step should not hide the state of the rest.
      request: buildRequestOf(options, "build", patterns, { keepGoing: true }),
      beginRebuild(trigger) {
        if (mode === "terminal") process.stderr.write("\x1b[2J\x1b[H");
        if (trigger.length > 0) {
          const shown = trigger.slice(0, TRIGGER_PATHS_SHOWN).join(", ");
          const more = trigger.length > TRIGGER_PATHS_SHOWN ? ` and ${trigger.length - TRIGGER_PATHS_SHOWN} more` : "";
          say(`kiln: ${shown}${more} changed; rebuilding`);
        }
        const reporter = new BuildReporter(mode, process.stdout, process.stderr, undefined, { quiet: options.quiet, color: colorWanted(process.env), columns: process.stderr.columns });
        return {
          reporter: (event) => reporter.handle(event),
          // The summary as soon as the outputs are in place: recording the build's state comes after.
          built(outcome) {
            reporter.handle(outcome.summary);
          },
          finished(result, error, early) {
            if (result) {
              if (!early) reporter.handle(result.summary);
              return;
            }
            const message = error instanceof KilnError ? formatError(error) : error instanceof Error ? error.message : String(error);
            // After the summary, the outputs stand: what failed is kiln's own record of them.
            if (early) say(`kiln: warning: the outputs above are in place, but kiln could not record the build's state: ${message}`);
            else if (error instanceof KilnError) say(`kiln: error: ${message}`);
            else if (error) say(`kiln: internal error: ${message}\n  This is a bug in kiln; please report it.`);
          },
        };
      },
      watching(files) {
        if (mode !== "json") say(`kiln: watching ${files} files; waiting for changes (Ctrl-C to stop)`);
      },
      warn: (message) => say(`kiln: warning: ${message}`),
    });
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
