/**
 * Where a step runs, behind one interface: the local executor (sandbox directories, shell
 * commands, step runner processes) today, a Remote Execution API service next. The builder hands
 * an executor a keyed action and gets back what happened; it never learns how.
 *
 * The contract: on success every output, and the log if there is one, is a blob in the local
 * store (through the cache's putBlob), described by the returned ActionResult, and nothing has
 * been written to kiln-out: storing the result and materializing the outputs are the builder's
 * (cache-steps.ts). A failure says whose fault it is. Aborting `signal` cancels the run: its
 * processes are stopped and the execution ends as `cancelled`, never as a result.
 */
import type { ActionResult } from "../cache/local-store.js";
import { describeFileFault, isFileFault, KilnError } from "../errors.js";
import type { GraphTarget } from "../graph/action-graph.js";
import type { PreparedAction } from "../key/action-inputs.js";

export interface ExecutableAction {
  target: GraphTarget;
  prepared: PreparedAction;
  /** The key this label was last built with, if another (recorded in the result, for `kiln why`). */
  previousKey?: string;
}

/**
 * How a step ended. A failure's `fault` says whose it is: the step's own (its command or
 * function failed), the machine's ("environment": a source vanished, the disk is full; the build
 * exits 2), the input's ("input": a dataset that does not fit its schema; exit 2) or kiln's
 * ("kiln": a sandbox that is not what kiln laid out).
 */
export type Execution =
  | { ok: true; result: ActionResult }
  | { ok: false; message: string; command?: string; stderrTail: string; logPath?: string; fault?: "environment" | "kiln" | "input"; cancelled?: true };

export type FailedExecution = Execution & { ok: false };

export interface Executor {
  /** Never throws: whatever goes wrong is a failed Execution. */
  execute(action: ExecutableAction, signal: AbortSignal): Promise<Execution>;
  /** Stops what still runs and releases what the executor holds; the build awaits it. */
  close(): Promise<void>;
}

/** A run stopped through its signal. */
export function cancelledExecution(command?: string): FailedExecution {
  return { ok: false, cancelled: true, command, stderrTail: "", message: "cancelled" };
}

/**
 * An exception thrown while kiln worked on a step, as a failed Execution: the machine's fault
 * (a file operation refused or failed: a source removed mid-build, a full disk; exit 2) with one
 * line naming the operation and the path, or else kiln's own, reported as the bug it is.
 */
export function faultExecution(error: unknown, command?: string, doing?: string): FailedExecution {
  const environment = error instanceof KilnError ? error.kind === "environment" : isFileFault(error);
  const text = environment ? describeFileFault(error) : `${error instanceof Error ? error.message : String(error)}. This is a bug in kiln; please report it`;
  return { ok: false, command, stderrTail: "", fault: environment ? "environment" : "kiln", message: doing ? `kiln could not ${doing}: ${text}` : text };
}
