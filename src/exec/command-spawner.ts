/**
 * Starts `cmd` actions through one long-lived /bin/sh instead of forking kiln for each.
 *
 * Why: child_process.spawn forks the calling process, and a fork costs time in proportion to the
 * parent's memory (measured here: 1.2 ms at 52 MB RSS, 4.3 ms at 157 MB, 16 ms at 473 MB), all of
 * it on kiln's main thread, so a build of trivial steps was bound by kiln's own spawn calls. A
 * 1 MB shell forks cheaply and off kiln's thread (0.34 ms a job at -j2, against ninja's 0.38 ms
 * for `sh -c true`); kiln only writes a line to a pipe. The command still runs in a /bin/sh of
 * its own, in its sandbox, with exactly the environment kiln gives it (the helper's is empty).
 *
 * Protocol: kiln writes the job id and the sandbox directory, a line each; in the background, a
 * subshell of the helper moves into the sandbox and runs `/bin/sh .kiln-run` (the exports, then
 * the command's text on the same line, so line numbers in errors are the command's own) with
 * stdout and stderr in `.kiln-stdout` and `.kiln-stderr`, and the helper answers `<id> <status>`.
 * Variables whose names are not shell names are left out: /bin/sh drops them from the
 * environment of everything it runs anyway.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { overwriteFile } from "../overwrite-file.js";
import { runCommand, type CommandRun } from "./run-cmd.js";

/** The control file a job runs, inside its sandbox. */
const RUN_SCRIPT = ".kiln-run";
export const STDOUT_FILE = ".kiln-stdout";
export const STDERR_FILE = ".kiln-stderr";

// Per job: a subshell of the 1 MB helper (fork) that runs the command in a /bin/sh of its own
// (its own $$; a subshell would share the helper's, and `kill $$` would kill the helper), as a
// simple command, which dash starts with vfork: ~0.7 ms less per job than exec'ing a second
// subshell (1,000 sequential jobs: 2.8-3.0 s against 3.4-3.9 s, the same CPU).
// `cd` sets OLDPWD, which dash exports: unset it so the command does not see the helper's cwd.
const HELPER_SCRIPT = `while IFS= read -r id && IFS= read -r dir; do
( if cd "$dir"; then unset OLDPWD; /bin/sh ./${RUN_SCRIPT} </dev/null >${STDOUT_FILE} 2>${STDERR_FILE}; echo "$id $?"; else echo "$id 127"; fi ) &
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
    if (dir.includes("\n")) {
      // Not expressible in the helper's line protocol: a direct spawn.
      return runCommand(command, dir, env, join(dir, STDOUT_FILE), join(dir, STDERR_FILE));
    }
    const exports = Object.keys(env)
      .filter((name) => SHELL_NAME.test(name))
      .map((name) => `${name}=${quote(env[name]!)}`);
    const script = `${exports.length > 0 ? `export ${exports.join(" ")}; ` : ""}${command}\n`;
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

  /**
   * Stops every running command: SIGTERM to the helper's process group (the helper, its
   * subshells and the commands), then SIGKILL to whatever is left after `graceMs`. Jobs still
   * waiting resolve as not started.
   */
  async interrupt(graceMs = 2000): Promise<void> {
    const pid = this.shell?.pid;
    if (pid === undefined) return;
    const signalGroup = (signal: NodeJS.Signals | 0) => {
      try {
        process.kill(-pid, signal);
        return true;
      } catch {
        return false; // the group is gone
      }
    };
    if (!signalGroup("SIGTERM")) return;
    for (let waited = 0; waited < graceMs; waited += 50) {
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 50));
      if (!signalGroup(0)) return;
    }
    signalGroup("SIGKILL");
  }

  private ensureShell(): ChildProcess {
    if (this.shell) return this.shell;
    // A process group of its own, so an interrupt can stop every command at once (kiln forwards
    // Ctrl-C: the terminal's signal reaches only kiln's group).
    const shell = spawn("/bin/sh", ["-c", HELPER_SCRIPT], { cwd: "/", env: {}, stdio: ["pipe", "pipe", "inherit"], detached: true });
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
