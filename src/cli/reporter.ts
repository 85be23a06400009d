/**
 * Renders build events. Three renderers over one event stream:
 *   json     one JSON object a line on stdout (step and summary events only); human text to stderr
 *   plain    a line per executed or failed step, timestamped, for pipes and CI logs (CI=true)
 *   terminal the same lines, plus a status block rewritten in place while steps run: done/total,
 *            an ETA from earlier runs' durations, and each running step with its elapsed time
 * All end with the one-line summary; `quiet` (-q) leaves only failures, warnings and the summary.
 * Colour only on a terminal, never with NO_COLOR.
 */
import type { BuildEvent, SummaryEvent } from "../events.js";
import { estimateRemainingMs, formatDuration } from "./progress-estimate.js";

export type ReporterMode = "json" | "plain" | "terminal";

export interface ReporterOptions {
  /** -q: no progress lines, only failures, warnings and the summary. */
  quiet?: boolean;
  /** ANSI colour (terminal mode only; the CLI turns it off for NO_COLOR). */
  color?: boolean;
  /** Each step's last executed duration (ms), for the ETA. */
  history?: ReadonlyMap<string, number>;
  /** Steps run at once, for the ETA. */
  jobs?: number;
  /** Width of the terminal (columns). */
  columns?: number;
  /** How often the status block is redrawn while nothing happens (ms); 0: only on events. */
  refreshMs?: number;
  now?: () => number;
  /** Wall-clock time of day for plain lines. */
  timeOfDay?: () => string;
}

/** Running steps shown by name in the status block; beyond, a count. */
const RUNNING_SHOWN = 6;

/** The mode for a stream: a terminal unless piped or CI=true (CI logs want plain lines). */
export function reporterModeFor(json: boolean, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): ReporterMode {
  if (json) return "json";
  return stream.isTTY && env.CI !== "true" && env.TERM !== "dumb" ? "terminal" : "plain";
}

/** NO_COLOR (any non-empty value, no-color.org) turns colour off, as does FORCE_COLOR=0. */
export function colorWanted(env: NodeJS.ProcessEnv): boolean {
  return !env.NO_COLOR && env.FORCE_COLOR !== "0";
}

export interface Output {
  write(text: string): void;
}

/** Shown by name at the end; beyond this many, a count. */
const CACHED_LABELS_SHOWN = 8;

export function formatSummary(summary: SummaryEvent): string {
  return (
    `kiln: ${summary.steps} steps, ${summary.executed} executed, ${summary.cached} cached ` +
    `(${summary.cachedLocal} local, ${summary.cachedRemote} remote), ${summary.failed} failed in ${(summary.ms / 1000).toFixed(2)}s`
  );
}

/** `cached: a, b, c and 12 more`: what was cached, short enough for one line. */
export function cachedLine(labels: readonly string[]): string {
  const shown = labels.slice(0, CACHED_LABELS_SHOWN).join(", ");
  const more = labels.length > CACHED_LABELS_SHOWN ? ` and ${labels.length - CACHED_LABELS_SHOWN} more` : "";
  return `cached: ${shown}${more}`;
}

export class BuildReporter {
  private total = 0;
  private done = 0;
  /** Running steps and when each started (options.now). */
  private readonly running = new Map<string, number>();
  /** Planned labels not yet finished or started, for the ETA. */
  private readonly pending = new Set<string>();
  private deps: ReadonlyMap<string, readonly string[]> | undefined;
  private readonly cached: string[] = [];
  /** Lines of the status block on screen (0: none). */
  private statusLines = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly options: Required<Omit<ReporterOptions, "history">> & { history: ReadonlyMap<string, number> };
  /** JSON lines not yet written: a burst of events (10,000 cached steps) becomes one write. */
  private jsonLines: string[] = [];

  constructor(
    private readonly mode: ReporterMode,
    private readonly stdout: Output,
    private readonly stderr: Output,
    /** Lines printed just before the summary of a successful build (where outputs landed). */
    private readonly epilogue?: () => string[],
    options: ReporterOptions = {},
  ) {
    this.options = {
      quiet: options.quiet ?? false,
      color: (options.color ?? false) && mode === "terminal",
      history: options.history ?? new Map(),
      jobs: options.jobs ?? 1,
      // A pty with no size (0 columns) is not 0 wide.
      columns: options.columns || 100,
      refreshMs: options.refreshMs ?? 200,
      now: options.now ?? (() => performance.now()),
      timeOfDay: options.timeOfDay ?? (() => new Date().toISOString().slice(11, 19)),
    };
  }

  private paint(code: string, text: string): string {
    return this.options.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** Plain lines carry the time of day, for CI logs. */
  private stamp(text: string): string {
    return this.mode === "plain" ? `${this.options.timeOfDay()} ${text}` : text;
  }

  readonly handle = (event: BuildEvent): void => {
    switch (event.type) {
      case "plan":
        this.total = event.steps;
        for (const label of event.labels ?? []) this.pending.add(label);
        this.deps = event.deps;
        if (this.mode === "terminal" && !this.options.quiet && this.options.refreshMs > 0) {
          this.timer = setInterval(() => this.refreshStatus(), this.options.refreshMs);
          this.timer.unref();
        }
        return;
      case "started":
        this.pending.delete(event.label);
        this.running.set(event.label, this.options.now());
        this.refreshStatus();
        return;
      case "step":
        this.done++;
        this.running.delete(event.label);
        this.pending.delete(event.label);
        if (this.mode === "json") {
          this.writeJson(JSON.stringify(event));
          return;
        }
        if (event.status === "executed" && !this.options.quiet) {
          this.line(this.stamp(`[${this.done}/${this.total}] ${this.paint("32", "built")} ${event.label} in ${(event.ms / 1000).toFixed(2)}s`));
        } else if (event.status === "cached") this.cached.push(event.label);
        this.refreshStatus();
        return;
      case "explain":
        this.line(`explain ${event.label}: ${event.reasons.join("; ")}`, this.mode === "json");
        return;
      case "failure": {
        const lines = [this.stamp(`${this.paint("1;31", "FAILED")} ${event.label}: ${event.message}`)];
        if (event.command) lines.push(`  command: ${event.command}`);
        if (event.stderrTail) lines.push("  output (last lines):", ...event.stderrTail.split("\n").map((l) => `    ${l}`));
        if (event.logPath) lines.push(`  full log: ${event.logPath}`);
        this.line(lines.join("\n"), true);
        return;
      }
      case "skipped":
        if (event.cancelled) {
          this.running.delete(event.label);
          this.line(`cancelled ${event.label}: ${event.because}`, true);
        }
        return;
      case "warning":
        this.line(`warning: ${event.message}`, true);
        return;
      case "summary":
        clearInterval(this.timer);
        this.timer = undefined;
        this.clearStatus();
        if (this.mode === "json") {
          this.writeJson(JSON.stringify(event));
          this.flushJson();
          return;
        }
        if (this.cached.length > 0 && !this.options.quiet) this.stdout.write(`${cachedLine(this.cached)}\n`);
        if (event.failed === 0 && this.epilogue && !this.options.quiet) {
          const lines = this.epilogue();
          if (lines.length > 0) this.stdout.write(`${lines.join("\n")}\n`);
        }
        this.stdout.write(`${formatSummary(event)}\n`);
        return;
      default: {
        const unreachable: never = event;
        return unreachable;
      }
    }
  };

  /**
   * Queues a JSON line; the queue is written once the current burst of events is over (a
   * microtask), so consumers still get each event as soon as the build moves on.
   */
  private writeJson(line: string): void {
    if (this.jsonLines.push(line) === 1) queueMicrotask(() => this.flushJson());
  }

  private flushJson(): void {
    if (this.jsonLines.length === 0) return;
    this.stdout.write(`${this.jsonLines.join("\n")}\n`);
    this.jsonLines = [];
  }

  private line(text: string, toStderr = false): void {
    this.clearStatus();
    (toStderr || this.mode === "json" ? this.stderr : this.stdout).write(`${text}\n`);
    this.refreshStatus();
  }

  /** The status block: done/total, ETA, and the running steps with their elapsed times. */
  statusBlock(): string[] {
    const now = this.options.now();
    const running = [...this.running].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    const eta = estimateRemainingMs({
      pending: this.pending,
      running: running.map(([label, started]) => ({ label, elapsedMs: now - started })),
      history: this.options.history,
      jobs: this.options.jobs,
      deps: this.deps,
    });
    const head = `[${this.done}/${this.total}] ${running.length} running${eta !== undefined ? `, ETA ${formatDuration(eta)}` : ""}`;
    const lines = [head];
    for (const [label, started] of running.slice(0, RUNNING_SHOWN)) lines.push(`  ${this.paint("2", formatDuration(now - started).padStart(6))}  ${label}`);
    if (running.length > RUNNING_SHOWN) lines.push(`  ... and ${running.length - RUNNING_SHOWN} more`);
    const width = Math.max(20, this.options.columns - 1);
    // Cut to the width (colour codes do not take columns, so cut the plain text when colourless).
    return lines.map((line) => (this.options.color ? line : line.slice(0, width)));
  }

  private refreshStatus(): void {
    if (this.mode !== "terminal" || this.options.quiet || this.running.size === 0) {
      this.clearStatus();
      return;
    }
    const lines = this.statusBlock();
    this.clearStatus();
    this.stderr.write(lines.join("\n"));
    this.statusLines = lines.length;
  }

  /** Erases the block: the cursor is at the end of its last line. */
  private clearStatus(): void {
    if (this.statusLines === 0) return;
    this.stderr.write(`\r\x1b[2K${"\x1b[1A\x1b[2K".repeat(this.statusLines - 1)}`);
    this.statusLines = 0;
  }
}
