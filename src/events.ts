/**
 * What a build reports, as typed events. The engine emits them; reporters (terminal, plain lines,
 * --json) render them. The `step` and `summary` shapes are the public --json contract.
 */
export type StepStatus = "executed" | "cached" | "failed";

export interface StepEvent {
  type: "step";
  label: string;
  status: StepStatus;
  cache: "local" | "remote" | null;
  key: string;
  ms: number;
}

export interface SummaryEvent {
  type: "summary";
  steps: number;
  executed: number;
  cached: number;
  cachedLocal: number;
  cachedRemote: number;
  failed: number;
  ms: number;
}

export type BuildEvent =
  | {
      type: "plan";
      steps: number;
      /** The labels and their dependencies, for progress estimates. */
      labels?: readonly string[];
      deps?: ReadonlyMap<string, readonly string[]>;
    }
  | { type: "started"; label: string }
  | StepEvent
  | { type: "explain"; label: string; reasons: string[] }
  | { type: "failure"; label: string; command?: string; message: string; stderrTail: string; logPath?: string }
  | { type: "skipped"; label: string; because: string; /** Stopped mid-run because an input changed (watch mode). */ cancelled?: true }
  | { type: "warning"; message: string }
  | SummaryEvent;

export type Reporter = (event: BuildEvent) => void;

/** What a build's profile (`kiln build --profile`) records a slice of. */
export type TraceCategory = "load" | "analysis" | "key" | "lookup" | "hash" | "step";

/**
 * Receives timed slices of a build (times from performance.now(), in ms). Optional everywhere:
 * without --profile nothing is timed.
 */
export interface Tracer {
  span(category: TraceCategory, name: string, startMs: number, endMs: number, args?: Record<string, unknown>): void;
}
