/**
 * The one place an error becomes text and an exit code: a KilnError as its message (exit 1 or 2 by
 * kind), the machine's errors (a full disk, a permission) as Node's message with a note, and
 * anything else as a bug in kiln. main.ts uses it for the command line, build-server.ts for the
 * builds a kiln server runs for its clients.
 */
import { exitCodeFor, formatError, isEnvironmentError, KilnError } from "../errors.js";

/** `verbose`: stack traces (--verbose). */
export function reportFailure(error: unknown, stderr: { write(text: string): void }, verbose: boolean): number {
  if (error instanceof KilnError) {
    stderr.write(`kiln: error: ${formatError(error)}\n`);
    return exitCodeFor(error.kind);
  }
  if (isEnvironmentError(error)) {
    // The machine, not kiln: Node's message names the call and the path ("ENOSPC: no space left
    // on device, write '/path'").
    stderr.write(`kiln: error: ${verbose ? (error.stack ?? error.message) : error.message}\n  (the file system or permissions are in the way; nothing was wrong with the build itself)\n`);
    return exitCodeFor("environment");
  }
  const text = error instanceof Error ? (verbose ? (error.stack ?? error.message) : error.message) : String(error);
  stderr.write(`kiln: internal error: ${text}\n  This is a bug in kiln; please report it${verbose ? "" : " (rerun with --verbose for the stack trace)"}.\n`);
  return 1;
}
