/**
 * Starts `cmd` actions through one long-lived /bin/sh instead of forking kiln for each.
 *
 * Why: child_process.spawn forks the calling process, and a fork costs time in proportion to the
 * parent's memory (measured here: 1.2 ms at 52 MB RSS, 4.3 ms at 157 MB, 16 ms at 473 MB), all of
 * it on kiln's main thread, so a build of trivial steps was bound by kiln's own spawn calls. A
 * shell of 1 MB forks in microseconds and runs on the other core; kiln only writes a line to a
 * pipe. The command still runs as `/bin/sh -c <command>` in its sandbox with exactly the
 * environment kiln gives it (the helper shell itself has an empty one).
 *
 * Protocol: kiln writes the job id and the sandbox directory, a line each; in the background, a
 * subshell of the helper moves into the sandbox, points stdout and stderr at `.kiln-stdout` and
 * `.kiln-stderr`, and sources the sandbox's `.kiln-run` (the exports, then the command's text:
 * parsed and run as `sh -c` would), and the helper answers `<id> <exit status>`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { overwriteFile } from "../overwrite-file.js";
import { runCommand, type CommandRun } from "./run-cmd.js";

/** The control file a job runs, inside its sandbox. */
export const RUN_SCRIPT = ".kiln-run";
export const STDOUT_FILE = ".kiln-stdout";
export const STDERR_FILE = ".kiln-stderr";

// Two forks of a 1 MB shell and no exec: the inner subshell is the `/bin/sh` the command runs in.
// `cd` sets OLDPWD, which dash exports, and the loop's own variables must not show: unset them.
const HELPER_SCRIPT = `while IFS= read -r id && IFS= read -r dir; do
( ( cd "$dir" || exit 127; unset OLDPWD id dir; exec </dev/null >${STDOUT_FILE} 2>${STDERR_FILE}; . ./${RUN_SCRIPT} ); echo "$id $?" ) &
done`;

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SIGNALS: Record<number, NodeJS.Signals> = { 1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM" };

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

export class CommandSpawner {
  private shell: ChildProcess | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, (run: CommandRun) => void>();
  private buffered = "";

  /**
   * Runs `command` in `dir` with exactly `env`, stdout and stderr going to STDOUT_FILE and
   * STDERR_FILE in `dir`. A command killed by a signal reports exit status 128 + n as the shell
   * does, with the signal named when it is a common one.
   */
  run(command: string, dir: string, env: Record<string, string>): Promise<CommandRun> {
    const names = Object.keys(env);
    if (dir.includes("\n") || !names.every((name) => SHELL_NAME.test(name))) {
      // Not expressible to the helper shell: fall back to a direct spawn.
      return runCommand(command, dir, env, join(dir, STDOUT_FILE), join(dir, STDERR_FILE));
    }
    const exports = names.map((name) => `${name}=${quote(env[name]!)}`);
    const script = `${exports.length > 0 ? `export ${exports.join(" ")}\n` : ""}${command}\n`;
    overwriteFile(join(dir, RUN_SCRIPT), script);
    const shell = this.ensureShell();
    const id = ++this.nextId;
    return new Promise((resolvePromise) => {
      this.waiting.set(id, resolvePromise);
      if (this.waiting.size === 1) this.setReferenced(shell, true);
      shell.stdin!.write(`${id}\n${dir}\n`);
    });
  }

  /** Lets the helper shell exit once its running jobs have reported. */
  close(): void {
    this.shell?.stdin?.end();
    this.shell = undefined;
  }

  private ensureShell(): ChildProcess {
    if (this.shell) return this.shell;
    const shell = spawn("/bin/sh", ["-c", HELPER_SCRIPT], { cwd: "/", env: {}, stdio: ["pipe", "pipe", "inherit"] });
    shell.stdout!.setEncoding("utf8");
    shell.stdout!.on("data", (chunk: string) => this.receive(chunk));
    const failAll = (message: string) => {
      for (const [id, resolvePromise] of this.waiting) {
        this.waiting.delete(id);
        resolvePromise({ exitCode: null, signal: null, spawnError: message });
      }
      if (this.shell === shell) this.shell = undefined;
    };
    shell.on("error", (error) => failAll(`the /bin/sh that starts commands failed: ${error.message}`));
    shell.on("close", () => failAll("the /bin/sh that starts commands exited"));
    this.setReferenced(shell, false);
    this.shell = shell;
    return shell;
  }

  /** An idle helper must not keep kiln alive; one with jobs out must. */
  private setReferenced(shell: ChildProcess, referenced: boolean): void {
    for (const handle of [shell, shell.stdin, shell.stdout] as unknown as { ref(): void; unref(): void }[]) {
      if (referenced) handle.ref();
      else handle.unref();
    }
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf("\n")) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      const [id, status] = line.split(" ").map(Number) as [number, number];
      const resolvePromise = this.waiting.get(id);
      if (!resolvePromise) continue;
      this.waiting.delete(id);
      if (this.waiting.size === 0 && this.shell) this.setReferenced(this.shell, false);
      const signal = status > 128 ? SIGNALS[status - 128] : undefined;
      resolvePromise(signal ? { exitCode: status, signal } : { exitCode: status, signal: null });
    }
  }
}
