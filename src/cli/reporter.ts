/**
 * Renders build events. Three renderers over one event stream:
 *   json     one JSON object a line on stdout (step and summary events only); human text to stderr
 *   plain    a line per executed or failed step, for pipes and CI logs
 *   terminal the same lines, plus one status line rewritten in place while steps run
 * All end with the one-line summary.
 */
import type { BuildEvent, SummaryEvent } from "../events.js";

export type ReporterMode = "json" | "plain" | "terminal";

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
  private readonly running = new Set<string>();
  private readonly cached: string[] = [];
  private statusShown = false;
  /** JSON lines not yet written: a burst of events (10,000 cached steps) becomes one write. */
  private jsonLines: string[] = [];

  constructor(
    private readonly mode: ReporterMode,
    private readonly stdout: Output,
    private readonly stderr: Output,
    /** Lines printed just before the summary of a successful build (where outputs landed). */
    private readonly epilogue?: () => string[],
  ) {}

  readonly handle = (event: BuildEvent): void => {
    switch (event.type) {
      case "plan":
        this.total = event.steps;
        return;
      case "started":
        this.running.add(event.label);
        this.refreshStatus();
        return;
      case "step":
        this.done++;
        this.running.delete(event.label);
        if (this.mode === "json") {
          this.writeJson(JSON.stringify(event));
          return;
        }
        if (event.status === "executed") this.line(`[${this.done}/${this.total}] built ${event.label} in ${(event.ms / 1000).toFixed(2)}s`);
        else if (event.status === "cached") this.cached.push(event.label);
        this.refreshStatus();
        return;
      case "explain":
        this.line(`explain ${event.label}: ${event.reasons.join("; ")}`, this.mode === "json");
        return;
      case "failure": {
        const lines = [`FAILED ${event.label}: ${event.message}`];
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
        this.clearStatus();
        if (this.mode === "json") {
          this.writeJson(JSON.stringify(event));
          this.flushJson();
          return;
        }
        if (this.cached.length > 0) this.stdout.write(`${cachedLine(this.cached)}\n`);
        if (event.failed === 0 && this.epilogue) {
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

  private refreshStatus(): void {
    if (this.mode !== "terminal" || this.running.size === 0) {
      this.clearStatus();
      return;
    }
    const names = [...this.running].slice(0, 3).join(", ");
    const more = this.running.size > 3 ? ` +${this.running.size - 3}` : "";
    const columns = (process.stderr.columns ?? 100) - 1;
    const text = `[${this.done}/${this.total}] running ${names}${more}`.slice(0, columns);
    this.stderr.write(`\r\x1b[2K${text}`);
    this.statusShown = true;
  }

  private clearStatus(): void {
    if (!this.statusShown) return;
    this.stderr.write("\r\x1b[2K");
    this.statusShown = false;
  }
}
