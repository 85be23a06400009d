/**
 * Starts `cmd` actions through long-lived /bin/sh helpers instead of forking kiln for each.
 *
 * Why: child_process.spawn forks the calling process, and a fork costs time in proportion to the
 * parent's memory (measured here: 1.2 ms at 52 MB RSS, 4.3 ms at 157 MB, 16 ms at 473 MB), all of
 * it on kiln's main thread, so a build of trivial steps was bound by kiln's own spawn calls. A
 * 1 MB shell starts a command cheaply and off kiln's thread; kiln only writes a line to a pipe.
 * Each helper runs one job at a time, as a simple foreground command, which dash starts with
 * vfork: per job one vfork and one exec, as ninja pays for `sh -c` (1,000 sequential jobs of the
 * benchmark's command: 2.4-2.5 s, `sh -c` from a loop 2.2-2.7 s; a background subshell per job
 * in one helper, the previous design, 2.7-3.0 s). There are as many helpers as jobs ever ran at
 * once (-j). The command still runs in a /bin/sh of its own, in its sandbox, with exactly the
 * environment kiln gives it (the helpers' is empty).
 *
 * Protocol: kiln writes the job id and the sandbox directory, a line each, to an idle helper;
 * it moves into the sandbox and runs `/bin/sh .kiln-run` (the exports, then the command's text
 * on the same line, so line numbers in errors are the command's own) with stdout and stderr in
 * `.kiln-stdout` and `.kiln-stderr`, and answers `<id> <status>`. Variables whose names are not
 * shell names are left out: /bin/sh drops them from the environment of everything it runs anyway.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, renameSync, rmdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { overwriteFile } from "../overwrite-file.js";
import { skeletonDir, type CommandLaunch, type NamespaceLaunch } from "./isolation.js";
import { stopProcessGroups } from "./process-groups.js";
import { runCommand, type CommandRun } from "./run-cmd.js";
import { namespaceHelperArgv, namespaceHelperScript, prepareSkeleton, viewFstab } from "./unshare-sandbox.js";

/** The control file a job runs, inside its sandbox. */
const RUN_SCRIPT = ".kiln-run";
/** Under a wrapper (bwrap), the command's own script, which the wrapper runs. */
const COMMAND_SCRIPT = ".kiln-cmd";
export const STDOUT_FILE = ".kiln-stdout";
export const STDERR_FILE = ".kiln-stderr";

// One job at a time: `cd` into the sandbox, run the command in a /bin/sh of its own (its own $$;
// the helper's would be shared, and `kill $$` would kill the helper), report, `cd /` so the helper
// does not hold the sandbox. `cd` sets OLDPWD, which dash exports: unset it so the command does
// not see where the helper was.
const HELPER_SCRIPT = `while IFS= read -r id && IFS= read -r dir; do
if cd "$dir"; then unset OLDPWD; /bin/sh ./${RUN_SCRIPT} </dev/null >${STDOUT_FILE} 2>${STDERR_FILE}; echo "$id $?"; else echo "$id 127"; fi
cd /
done`;

/** A cancelled command gets SIGTERM, then SIGKILL after this (as an interrupted build's do). */
const CANCEL_GRACE_MS = 2000;
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SIGNALS: Record<number, NodeJS.Signals> = { 1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM" };

const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

/** One helper shell and the job it is running, if any. */
interface Helper {
  shell: ChildProcess;
  job?: { id: number; resolve: (run: CommandRun) => void; settle?: () => void };
  buffered: string;
  /** Its job is being cancelled: the shell's exit is expected and is not the job's status. */
  cancelling?: boolean;
  /** Which view it runs jobs in: "" outside any namespace (see viewKey). */
  view: string;
  /** In a namespace: the host directory shown inside at the sandbox base (unshare-sandbox.ts). */
  slot?: string;
}

/** Jobs share a namespace helper only if they need the same view: network or not, the same tool roots. */
const viewKey = (launch: NamespaceLaunch) => `${launch.network ? "net" : "nonet"}\0${launch.toolRoots.join("\0")}`;
const underTmp = (path: string) => path === "/tmp" || path.startsWith("/tmp/");

/**
 * Namespace slots are numbered across the process, not per spawner: a watch session makes a new
 * spawner each rebuild, and a slot an earlier one could not remove (its helper was cancelled with
 * a job's sandbox still moving back) must not stand in the next one's way (mkdir EEXIST).
 */
let slotCounter = 0;

export class CommandSpawner {
  private readonly helpers: Helper[] = [];
  private nextId = 0;
  private closed = false;

  /**
   * Runs `command` in `dir` with exactly `env`, stdout and stderr going to STDOUT_FILE and
   * STDERR_FILE in `dir`. A command killed by a signal reports exit status 128 + n as the shell
   * does, with the signal named when it is a common one.
   */
  run(command: string, dir: string, env: Record<string, string>, launch?: CommandLaunch, signal?: AbortSignal): Promise<CommandRun> {
    if (signal?.aborted) return Promise.resolve({ exitCode: null, signal: null, cancelled: true });
    const exports = Object.keys(env)
      .filter((name) => SHELL_NAME.test(name))
      .map((name) => `${name}=${quote(env[name]!)}`);
    const script = `${exports.length > 0 ? `export ${exports.join(" ")}; ` : ""}${command}\n`;
    if (launch && "kind" in launch) return this.runInNamespace(script, dir, launch, signal);
    const wrapper = launch as readonly string[] | undefined;
    if (wrapper) {
      // The wrapper (bwrap) runs the command's script; the helper runs the wrapper.
      overwriteFile(join(dir, COMMAND_SCRIPT), script);
      const [program, ...args] = [...wrapper, "/bin/sh", join(dir, COMMAND_SCRIPT)];
      if (dir.includes("\n")) return runCommand(program!, args, dir, env, join(dir, STDOUT_FILE), join(dir, STDERR_FILE), signal);
      overwriteFile(join(dir, RUN_SCRIPT), `exec ${[program!, ...args].map(quote).join(" ")}\n`);
    } else {
      if (dir.includes("\n")) {
        // Not expressible in the helpers' line protocol: a direct spawn.
        return runCommand("/bin/sh", ["-c", command], dir, env, join(dir, STDOUT_FILE), join(dir, STDERR_FILE), signal);
      }
      overwriteFile(join(dir, RUN_SCRIPT), script);
    }
    const helper = this.helpers.find((h) => !h.job && h.view === "") ?? this.startHelper(["/bin/sh", "-c", HELPER_SCRIPT], "");
    return this.startJob(helper, dir, undefined, signal);
  }

  /**
   * Hands `dir` to an idle helper. Aborting `signal` cancels the job (cancel()); `settle` runs
   * before the caller hears how the job ended, whichever way it ends.
   */
  private startJob(helper: Helper, dir: string, settle: (() => void) | undefined, signal: AbortSignal | undefined): Promise<CommandRun> {
    const id = ++this.nextId;
    return new Promise((resolvePromise) => {
      const onAbort = () => void this.cancel(helper, CANCEL_GRACE_MS);
      helper.job = {
        id,
        settle,
        resolve: (run) => {
          signal?.removeEventListener("abort", onAbort);
          resolvePromise(run);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      setReferenced(helper.shell, true);
      helper.shell.stdin!.write(`${id}\n${dir}\n`);
    });
  }

  /**
   * A job for a helper living in a namespace (unshare-sandbox.ts): its sandbox is renamed into the
   * helper's slot, which the helper sees at the sandbox base, so inside it is at its own path;
   * once the job reports (or its helper is gone) it is renamed back before the caller hears.
   */
  private runInNamespace(script: string, dir: string, launch: NamespaceLaunch, signal?: AbortSignal): Promise<CommandRun> {
    if (dir.includes("\n")) return Promise.resolve({ exitCode: null, signal: null, spawnError: "the sandbox path holds a newline" });
    overwriteFile(join(dir, RUN_SCRIPT), script);
    const key = viewKey(launch);
    const base = dirname(dir);
    const helper = this.helpers.find((h) => !h.job && h.view === key) ?? this.startNamespaceHelper(launch, key, base);
    const inSlot = join(helper.slot!, basename(dir));
    renameSync(dir, inSlot);
    return this.startJob(helper, dir, () => renameSync(inSlot, dir), signal);
  }

  private startNamespaceHelper(launch: NamespaceLaunch, key: string, base: string): Helper {
    const n = ++slotCounter;
    // Named like a sandbox (<pid>-...): a kiln killed mid-build leaves it to the next build to remove.
    const slot = join(base, `${process.pid}-ns${n}`);
    mkdirSync(slot);
    const skeleton = skeletonDir(launch.scratchDir);
    prepareSkeleton(skeleton, base, launch.toolRoots);
    const fstab = join(launch.scratchDir, "tmp", `${process.pid}-ns${n}.fstab`);
    mkdirSync(dirname(fstab), { recursive: true });
    writeFileSync(fstab, viewFstab({ skeleton, slot, base, tools: launch.toolRoots }));
    const script = namespaceHelperScript(RUN_SCRIPT, STDOUT_FILE, STDERR_FILE, [base, ...launch.toolRoots].some(underTmp));
    const helper = this.startHelper(namespaceHelperArgv(launch.tools, launch.network, fstab, skeleton, script), key);
    helper.slot = slot;
    return helper;
  }

  /** Lets the helper shells exit once their running jobs have reported. */
  close(): void {
    this.closed = true;
    for (const helper of this.helpers.splice(0)) {
      helper.shell.stdin?.end();
      removeSlot(helper);
    }
  }

  /**
   * Stops one helper's job (its command and whatever that started) and retires the helper; its
   * job resolves as cancelled once the whole group is gone, so nothing writes into the sandbox
   * after the caller hears back.
   */
  private async cancel(helper: Helper, graceMs: number): Promise<void> {
    const job = helper.job;
    if (!job || helper.cancelling) return;
    helper.cancelling = true;
    const index = this.helpers.indexOf(helper);
    if (index >= 0) this.helpers.splice(index, 1);
    if (helper.shell.pid !== undefined) await stopProcessGroups([helper.shell.pid], graceMs);
    helper.job = undefined;
    settleAndResolve(job, { exitCode: null, signal: "SIGTERM", cancelled: true });
    // Retired: no later close() sees it.
    removeSlot(helper);
  }

  private startHelper(argv: readonly string[], view: string): Helper {
    // A process group of its own, so an interrupt can stop its command with it (kiln forwards
    // Ctrl-C: the terminal's signal reaches only kiln's group).
    const shell = spawn(argv[0]!, argv.slice(1), { cwd: "/", env: {}, stdio: ["pipe", "pipe", "inherit"], detached: true });
    const helper: Helper = { shell, buffered: "", view };
    shell.stdout!.setEncoding("utf8");
    shell.stdout!.on("data", (chunk: string) => this.receive(helper, chunk));
    const fail = (run: CommandRun) => {
      if (helper.cancelling) return; // cancel() reports the job
      const index = this.helpers.indexOf(helper);
      if (index >= 0) this.helpers.splice(index, 1);
      const job = helper.job;
      helper.job = undefined;
      if (job) settleAndResolve(job, run);
      removeSlot(helper);
    };
    shell.on("error", (error) => fail({ exitCode: null, signal: null, spawnError: `the /bin/sh that starts commands failed: ${error.message}` }));
    shell.on("close", () =>
      fail({ exitCode: null, signal: null, lostError: "the /bin/sh running it exited before reporting its status (was it killed, e.g. by `kill $PPID`?)" }),
    );
    setReferenced(shell, false);
    if (!this.closed) this.helpers.push(helper);
    return helper;
  }

  private receive(helper: Helper, chunk: string): void {
    helper.buffered += chunk;
    let newline: number;
    while ((newline = helper.buffered.indexOf("\n")) >= 0) {
      const line = helper.buffered.slice(0, newline);
      helper.buffered = helper.buffered.slice(newline + 1);
      const [id, status] = line.split(" ").map(Number) as [number, number];
      const job = helper.job;
      if (!job || job.id !== id || helper.cancelling) continue;
      helper.job = undefined;
      setReferenced(helper.shell, false);
      const signal = status > 128 ? SIGNALS[status - 128] : undefined;
      settleAndResolve(job, signal ? { exitCode: status, signal } : { exitCode: status, signal: null });
    }
  }
}

/**
 * Removes a namespace helper's slot once its last job's sandbox went back (the slot is empty then);
 * a leftover of a crash is removed by a later build, as sandboxes of dead kilns are.
 */
function removeSlot(helper: Helper): void {
  if (!helper.slot) return;
  try {
    rmdirSync(helper.slot);
  } catch {
    // not empty (a job's sandbox could not go back) or gone
  }
}

/** Puts the job's sandbox back where the caller expects it, then tells the caller how it ended. */
function settleAndResolve(job: NonNullable<Helper["job"]>, run: CommandRun): void {
  try {
    job.settle?.();
  } catch (error) {
    job.resolve({ exitCode: null, signal: null, lostError: `kiln could not move the sandbox back from its namespace slot: ${(error as Error).message}` });
    return;
  }
  job.resolve(run);
}

/** An idle helper must not keep kiln alive; one with a job out must. */
function setReferenced(shell: ChildProcess, referenced: boolean): void {
  for (const handle of [shell, shell.stdin, shell.stdout] as unknown as { ref(): void; unref(): void }[]) {
    if (referenced) handle.ref();
    else handle.unref();
  }
}
