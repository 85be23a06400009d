/**
 * Runs a program for a `cmd` action (`/bin/sh -c <command>`, or bwrap running it) in its sandbox with a clean environment. stdout and
 * stderr go straight to files in the sandbox (no copying through JavaScript), kept as the log.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";

export interface CommandRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  spawnError?: string;
  /** Set when the command started but its status never came back (the shell running it died). */
  lostError?: string;
  /** Set when the run was cancelled through its AbortSignal (killed, or never started). */
  cancelled?: true;
}

export function runCommand(program: string, args: readonly string[], cwd: string, env: Record<string, string>, stdoutFile: string, stderrFile: string, signal?: AbortSignal): Promise<CommandRun> {
  const stdout = openSync(stdoutFile, "w");
  const stderr = openSync(stderrFile, "w");
  return new Promise((resolvePromise) => {
    const child = spawn(program, args, { cwd, env, stdio: ["ignore", stdout, stderr] });
    let settled = false;
    const finish = (run: CommandRun) => {
      if (settled) return;
      settled = true;
      closeSync(stdout);
      closeSync(stderr);
      resolvePromise(run);
    };
    child.on("error", (error) => finish({ exitCode: null, signal: null, spawnError: error.message }));
    const onAbort = () => child.kill("SIGKILL");
    signal?.addEventListener("abort", onAbort, { once: true });
    child.on("close", (exitCode, killedBy) => {
      signal?.removeEventListener("abort", onAbort);
      finish(signal?.aborted ? { exitCode, signal: killedBy, cancelled: true } : { exitCode, signal: killedBy });
    });
  });
}
