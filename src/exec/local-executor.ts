/**
 * The local executor: runs an action on this machine in a sandbox directory holding only its
 * declared inputs (sandbox.ts, reused across steps: sandbox-pool.ts), checked before anything
 * runs (sandbox-check.ts); a `cmd` as a shell command under the build's isolation
 * (cmd-action.ts), a `step` in a step runner process (step-pool.ts). Afterwards it checks what
 * was written (regular files, exactly the declared outputs, no input modified) and puts the
 * outputs and the log into the local store as blobs. It writes nothing to kiln-out and stores
 * no result: that is the builder's, through the cache.
 */
import { existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ActionResult, OutputRecord } from "../cache/local-store.js";
import type { Reporter } from "../events.js";
import { outputDir } from "../graph/action-graph.js";
import type { ActionInput } from "../key/action-inputs.js";
import { digestBytes, type ContentDigest } from "../key/digest.js";
import { digestFileOfSize } from "../key/file-digest.js";
import { recordIdentity } from "../key/file-identity.js";
import type { StatCache } from "../state/stat-cache.js";
import { SHARED_INPUT_SIZE } from "../size-thresholds.js";
import { SANDBOX_PATH, runCmdAction, tail } from "./cmd-action.js";
import { CommandSpawner } from "./command-spawner.js";
import { isFileFault } from "../errors.js";
import { statPath } from "../stat-path.js";
import { cancelledExecution, faultExecution, type ExecutableAction, type Execution, type Executor } from "./executor.js";
import { chooseIsolation, type Isolation } from "./isolation.js";
import type { SandboxChoice, SandboxMode } from "./namespace-sandbox.js";
import { listOutputs } from "./output-listing.js";
import type { Sandbox } from "./sandbox.js";
import { checkSandboxInputs, type ExpectedInput } from "./sandbox-check.js";
import { SandboxPool } from "./sandbox-pool.js";
import { StepPool } from "./step-pool.js";
import type { Tool } from "./tools.js";

/** Where finished outputs and logs go: the local store's blobs, through the cache. */
export interface BlobSink {
  /** Moves (links) `file` into the store as the blob `digest`; returns the blob's path. */
  putBlob(file: string, digest: ContentDigest): string;
}

export interface LocalExecutorOptions {
  root: string;
  /** Per-workspace state directory: sandboxes live below it. */
  stateDir: string;
  /** Step runner processes at most (-j). */
  jobs: number;
  statCache: StatCache;
  tools: ReadonlyMap<string, Tool>;
  blobs: BlobSink;
  /** How `cmd` steps are isolated (isolation.ts), decided at the first one that runs. */
  sandbox: SandboxChoice;
  /** The caller's PATH, where bwrap is looked for. */
  hostPath: string | undefined;
  reporter: Reporter;
  /** Watch mode: large sandboxes kept between builds of the session (sandbox-pool.ts). */
  heldSandboxes?: Map<string, Sandbox>;
}

export class LocalExecutor implements Executor {
  private readonly pool: StepPool;
  private readonly spawner = new CommandSpawner();
  private readonly sandboxes: SandboxPool;
  private isolation?: Isolation;

  constructor(private readonly options: LocalExecutorOptions) {
    this.pool = new StepPool(options.jobs);
    this.sandboxes = new SandboxPool(join(options.stateDir, "sandbox"), options.heldSandboxes);
  }

  /**
   * Runs one action in a sandbox; a sandbox in doubt (a fault, a cancel) is dropped, not reused.
   * A parked sandbox whose manifest proves wrong while it is laid out is dropped and the action
   * laid out again in a new one, before anything ran.
   */
  async execute(action: ExecutableAction, signal: AbortSignal): Promise<Execution> {
    const first = await this.executeOnce(action, signal, false);
    return first === STALE ? this.executeOnce(action, signal, true) as Promise<Execution> : first;
  }

  private async executeOnce(action: ExecutableAction, signal: AbortSignal, fresh: boolean): Promise<Execution | typeof STALE> {
    if (signal.aborted) return cancelledExecution(action.target.spec.cmd);
    let sandbox: Sandbox;
    try {
      sandbox = this.sandboxes.claim(action.target.label, fresh);
    } catch (error) {
      return faultExecution(error, undefined, "make a sandbox");
    }
    let reusable = false;
    try {
      const execution = await this.executeIn(sandbox, action, signal);
      reusable = execution.ok || ((execution.fault === undefined || execution.fault === "input") && !execution.cancelled);
      return execution;
    } catch (error) {
      if (error instanceof StaleSandbox) return STALE;
      return faultExecution(error, action.target.spec.cmd);
    } finally {
      if (reusable) this.sandboxes.release(sandbox);
      else this.sandboxes.discard(sandbox);
    }
  }

  async close(): Promise<void> {
    this.spawner.close();
    await Promise.all([this.sandboxes.close(), this.pool.close()]);
  }

  private isolationOnce(): Isolation {
    this.isolation ??= chooseIsolation(this.options.sandbox, this.options.stateDir, this.options.hostPath, this.options.reporter);
    return this.isolation;
  }

  private async executeIn(sandbox: Sandbox, { target, prepared, previousKey }: ExecutableAction, signal: AbortSignal): Promise<Execution> {
    const started = performance.now();
    const { options } = this;
    const all = [...prepared.named.values()].flatMap(({ inputs }) => inputs);
    const outRelative = outputDir(target.pkg, target.name);
    const needed = new Set([outRelative]);
    for (const input of all) needed.add(dirname(input.path));
    if ((target.spec.tools ?? []).length > 0) needed.add(".bin");
    needed.delete(".");
    const reopened = sandbox.trustedManifest;
    let expected: ExpectedInput[];
    try {
      sandbox.prepareDirectories(needed);
      expected = layOutInputs(sandbox, all, options.statCache);
      sandbox.removeUnused();
    } catch (error) {
      if (reopened && isFileFault(error)) throw new StaleSandbox();
      throw error;
    }
    // A command never runs on a wrong sandbox (see sandbox-check.ts).
    const problems = await checkSandboxInputs(expected, options.statCache);
    if (reopened) {
      // The directories kiln writes into itself, not proved by any input's check.
      const own = [outRelative, ".tmp", ...((target.spec.tools ?? []).length > 0 ? [".bin"] : [])];
      if (problems.some((problem) => problem.cause === "kiln") || own.some((dir) => !statPath(sandbox.path(dir))?.isDirectory)) throw new StaleSandbox();
    }
    if (problems.length > 0) {
      const changed = problems.every((problem) => problem.cause === "changed");
      // The first few: an aggregator's 100,000 inputs would make a message of megabytes.
      const listed = problems.slice(0, PROBLEMS_LISTED).map((problem) => `${problem.path}: ${problem.detail}`);
      if (problems.length > PROBLEMS_LISTED) listed.push(`and ${problems.length - PROBLEMS_LISTED} more`);
      const list = listed.join("; ");
      return changed
        ? { ok: false, fault: "environment", stderrTail: "", message: `inputs changed during the build (${list}); build again` }
        : { ok: false, fault: "kiln", stderrTail: "", message: `kiln laid out a wrong sandbox, so the step was not run (${list}). This is a bug in kiln; please report it` };
    }
    const outAbsolute = sandbox.path(outRelative);

    const spec = target.spec;
    let failure: Execution | undefined;
    let log = "";
    let sandboxMode: SandboxMode | undefined;
    if (spec.action === "cmd") {
      const isolation = this.isolationOnce();
      if (isolation.mode === "dir" && isolation.unavailable) {
        return { ok: false, fault: "environment", command: spec.cmd, stderrTail: "", message: isolation.unavailable };
      }
      sandboxMode = isolation.mode;
      const ordered = all.map((input) => input.path);
      const run = await runCmdAction({ target, prepared, sandbox, ordered, outAbsolute, isolation, tools: options.tools, spawner: this.spawner, signal });
      log = run.log;
      if (!run.ok) failure = run;
    } else {
      const srcs: Record<string, string | string[]> = {};
      for (const [name, { inputs, single }] of prepared.named) {
        const paths = inputs.map((input) => sandbox.path(input.path));
        srcs[name] = single ? paths[0]! : paths;
      }
      const outcome = await this.pool.run(
        {
          bundlePath: prepared.stepCode!.bundlePath,
          exportName: prepared.stepCode!.exportName,
          label: target.label,
          srcs,
          params: spec.params ?? null,
          outDir: outAbsolute,
          seed: Number.parseInt(prepared.key.slice(0, 8), 16) >>> 0,
          // In a runner process of its own: the sandbox as working directory, and the environment
          // a cmd gets (no OUT/SRCS: ctx has them), nothing of kiln's.
          cwd: sandbox.dir,
          env: { PATH: SANDBOX_PATH, HOME: sandbox.home, TMPDIR: sandbox.tmp, LANG: "C.UTF-8", ...Object.fromEntries(prepared.ingredients.env) },
        },
        signal,
      );
      log = outcome.log;
      if (!outcome.ok) {
        const kind = spec.test ? "test failed" : "step failed";
        failure = outcome.cancelled
          ? cancelledExecution()
          : { ok: false, message: `${kind}: ${cleanStack(outcome.error)}`, stderrTail: tail(outcome.log), ...(outcome.fault ? { fault: outcome.fault } : {}) };
      }
    }
    // Cancelled: whatever it wrote is not looked at, stored or kept.
    if (signal.aborted) return cancelledExecution(spec.cmd);
    const modified = await sandbox.changedSharedInputs();
    if (modified.length > 0) {
      // The original changed too (shared, not copied). Forget its stat: the next build finds it
      // out of place, and the blob it shares an inode with fails verification and is rebuilt.
      for (const relative of modified) options.statCache.forget(join(options.root, relative));
      failure = {
        ok: false,
        command: spec.cmd,
        stderrTail: tail(log),
        message:
          `the step wrote to its inputs ${modified.join(", ")}; inputs are read-only ` +
          `(dependencies' outputs and sources over 64 MiB are shared, not copied): write new files to $OUT instead`,
      };
    }
    if (failure) {
      // The failed run is not cached, but its full log is kept in the store for `full log:`.
      if (log.length > 0 && !failure.ok) failure.logPath = this.storeLog(sandbox, log);
      return failure;
    }

    // Outputs are regular files: nothing else reaches the store or kiln-out (output-listing.ts).
    const { files: written, irregular } = listOutputs(sandbox.dir, outRelative);
    const declared = new Set(spec.outs);
    const irregularNames = new Set(irregular.map((entry) => entry.name));
    const missing = irregularNames.has(".") ? [] : spec.outs.filter((name) => !irregularNames.has(name) && !existsSync(join(outAbsolute, name)));
    const undeclared = written.filter((name) => !declared.has(name));
    if (missing.length > 0 || undeclared.length > 0 || irregular.length > 0) {
      const problems = [
        ...irregular.map(({ name, kind }) => `${outRelative}${name === "." ? "" : `/${name}`} is ${kind}; outputs must be regular files (copy the bytes instead)`),
        ...missing.map((name) => `declared output "${name}" was not written (expected at ${outRelative}/${name})`),
        ...(undeclared.length > 0 ? [`wrote undeclared outputs: ${undeclared.join(", ")} (declare them in outs)`] : []),
      ];
      return { ok: false, message: problems.join("; "), command: spec.cmd, stderrTail: tail(log) };
    }

    const records: OutputRecord[] = [];
    for (const name of [...spec.outs].sort()) {
      const file = join(outAbsolute, name);
      // Hashed directly: the stat cache would remember a sandbox path only to forget it.
      const { size } = statSync(file);
      const digest = await digestFileOfSize(file, size);
      options.blobs.putBlob(file, digest);
      records.push({ name, digest, size });
    }
    const result: ActionResult = { outputs: records, ms: performance.now() - started, createdAt: Date.now() };
    if (sandboxMode) result.sandbox = sandboxMode;
    if (spec.network) result.network = true;
    if (previousKey && previousKey !== prepared.key) result.previousKey = previousKey;
    if (log.length > 0) {
      const logPath = this.storeLog(sandbox, log);
      result.log = logPath.slice(logPath.lastIndexOf("/") + 1) as ContentDigest;
    }
    return { ok: true, result };
  }

  /** Puts a step's log into the blob store; returns the blob's path. */
  private storeLog(sandbox: Sandbox, log: string): string {
    const logFile = sandbox.path(".kiln-log");
    // Made anew, exclusively: a link the step left at this name must not be written through.
    rmSync(logFile, { force: true });
    writeFileSync(logFile, log, { flag: "wx" });
    return this.options.blobs.putBlob(logFile, digestBytes(log));
  }
}

/** How many of a sandbox's wrong inputs a step's failure names. */
const PROBLEMS_LISTED = 5;

/** A parked sandbox that is not what its manifest says: laid out again in a new one. */
class StaleSandbox extends Error {}
const STALE = Symbol("stale sandbox");

/**
 * Lays out an action's inputs: sources copied (or linked when large), dependencies' outputs
 * hard-linked. Returns what the sandbox should now hold, for checkSandboxInputs.
 */
function layOutInputs(sandbox: Sandbox, inputs: readonly ActionInput[], statCache: StatCache): ExpectedInput[] {
  const expected: ExpectedInput[] = [];
  for (const input of inputs) {
    const inSandbox = sandbox.path(input.path);
    if (input.kind === "source") {
      sandbox.placeSource(input.path, input.from, input.digest, input.size);
      const linked = input.size > SHARED_INPUT_SIZE ? statCache.identityOf(input.from) : undefined;
      expected.push({ path: input.path, inSandbox, digest: input.digest, size: input.size, source: input.from, linkedIdentity: linked });
      continue;
    }
    // One object for both checks (before the command: sandbox-check.ts; after: the sandbox's).
    const linkedIdentity = statCache.identityOf(input.from) ?? recordIdentity(statSync(input.from), "kiln", 0);
    const link = { path: input.path, inSandbox, digest: input.digest, size: input.size, linkedIdentity };
    sandbox.placeLinkedOutput(input.from, link);
    expected.push(link);
  }
  return expected;
}

/** A step's error without kiln's own frames. */
function cleanStack(stack: string): string {
  return stack
    .split("\n")
    .filter((line) => !line.includes("/step-runner.js") && !line.includes("node:internal"))
    .join("\n");
}
