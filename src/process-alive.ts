/** Whether a pid names a process: for state a process left behind (sandboxes, locks, a server's record). */
import { readFileSync } from "node:fs";

/** A process with this pid exists (EPERM: another user's, which exists too). A zombie exists. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A process with this pid exists and is not a zombie: a server killed after its parent ended
 * waits, a zombie, for an init that may never reap it. Without /proc (macOS), existing is running.
 */
export function processRunning(pid: number): boolean {
  if (!processExists(pid)) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}
