/**
 * The watch loop's states and what moves it between them. Pure: the loop (watch-loop.ts) feeds
 * it events and carries out the actions it returns.
 *
 *            change                 timer (quiet for DEBOUNCE)
 *   idle ------------> debouncing --------------------------> running
 *    ^                  |  ^  change: restart timer            |   |
 *    |                  |  +-----------+                       |   | change: cancel the steps
 *    |                  |                                      |   v it made obsolete
 *    +------------------+----------- built ------------------- +  cancelling
 *                                                                  | built: debounce again
 *                                                                  v
 *                                                               debouncing
 *   stop: from idle or debouncing -> stopped (exit); from running or cancelling -> stopping
 *   (abort the build), then built -> stopped (exit).
 *
 * Events are hints: a rebuild re-keys from content, so a burst of events (an editor's save, a
 * checkout of 500 files) is one rebuild, and an event that changed nothing executes nothing.
 */
export type WatchPhase = "idle" | "debouncing" | "running" | "cancelling" | "stopping" | "stopped";

export type WatchInput = { type: "change"; paths: readonly string[] } | { type: "timer" } | { type: "built" } | { type: "stop" };

export type WatchAction =
  /** (Re)start the quiet-period timer. */
  | { type: "start-timer" }
  /** Prove earlier events arrived (the cookie), then build. */
  | { type: "build" }
  /** Cancel the running steps that `paths` make obsolete; the build goes on with the rest. */
  | { type: "cancel-affected"; paths: readonly string[] }
  | { type: "abort-build" }
  | { type: "exit" };

export interface Transition {
  phase: WatchPhase;
  actions: WatchAction[];
}

export function transition(phase: WatchPhase, input: WatchInput): Transition {
  switch (input.type) {
    case "stop":
      if (phase === "running" || phase === "cancelling") return { phase: "stopping", actions: [{ type: "abort-build" }] };
      if (phase === "stopping" || phase === "stopped") return { phase, actions: [] };
      return { phase: "stopped", actions: [{ type: "exit" }] };
    case "change":
      if (phase === "idle" || phase === "debouncing") return { phase: "debouncing", actions: [{ type: "start-timer" }] };
      if (phase === "running" || phase === "cancelling") return { phase: "cancelling", actions: [{ type: "cancel-affected", paths: input.paths }] };
      return { phase, actions: [] };
    case "timer":
      return phase === "debouncing" ? { phase: "running", actions: [{ type: "build" }] } : { phase, actions: [] };
    case "built":
      if (phase === "running") return { phase: "idle", actions: [] };
      if (phase === "cancelling") return { phase: "debouncing", actions: [{ type: "start-timer" }] };
      if (phase === "stopping") return { phase: "stopped", actions: [{ type: "exit" }] };
      return { phase, actions: [] };
  }
}
