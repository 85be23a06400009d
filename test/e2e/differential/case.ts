/**
 * One differential case: a generated workspace written to a temp dir, built by the real CLI, then
 * changed op by op, each op followed by a build whose every kiln-out file is compared byte for byte
 * with what the model computes; at the end, a clean build of a copy of the tree (fresh cache, no
 * kiln-out, no .kiln) must produce the same kiln-out, byte for byte.
 */
import { copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { collect, parseJsonRun, removeTree, runKiln, spawnKiln, WORKSPACE_TS, type JsonRun } from "../harness.js";
import { tamperBlobs } from "../remote-servers.js";
import { digestFile, flipBytesInPlace, seededBytes, showSize } from "./content.js";
import { GLOB_DIR, Model, type WorkspaceSpec } from "./model.js";
import { showOp, type Jobs, type Op } from "./ops.js";

/** A mismatch between kiln and the model; its message is the whole story. */
export class DifferentialFailure extends Error {}

export class DifferentialCase {
  readonly model: Model;
  private readonly base = mkdtempSync(join(tmpdir(), "kiln-diff-"));
  private readonly ws = join(this.base, "ws");
  private readonly cache = join(this.base, "cache");
  /** What happened so far, with the files each op resolved to: printed on failure. */
  private readonly log: string[] = [];
  private renames = 0;
  /** Old mtimes handed out one second apart, so that every write still changes the mtime. */
  private oldMtime = Date.now() / 1000 - 7200;

  /**
   * `remote`: a shared remote cache every incremental build reads and writes (uploads on), so a
   * removed local cache is restored from it; the clean build of the copy never uses it.
   */
  /** Watch mode: one `kiln watch` sees every op; each settled state is checked instead of a build's. */
  private watcher?: SettlingWatch;

  /** Builds of the case so far: in server mode every third one is `--no-server`. */
  private builds = 0;

  /**
   * `server`: a `kiln server` runs for the workspace and takes every build; every third build
   * is `--no-server` instead, so the server also meets state another kiln process wrote.
   */
  constructor(
    spec: WorkspaceSpec,
    private readonly remote?: { url: string; casDir: string },
    private readonly watch = false,
    private readonly server = false,
  ) {
    this.model = new Model(spec);
  }

  /** Runs the initial build, every op, a last no-op build and the clean-build comparison. */
  async run(ops: Op[]): Promise<void> {
    try {
      this.writeInitialTree();
      if (this.server) {
        const started = await runKiln(["server", "start", "-C", this.ws, "--idle-timeout", "10"], { cwd: this.ws });
        if (started.code !== 0) throw new DifferentialFailure(`kiln server start exited ${started.code}\n  ${started.stderr.trim()}`);
      }
      if (this.watch) this.watcher = new SettlingWatch(spawnKiln(["watch", "//...", "--json", "-j", "2", "--cache-dir", this.cache, "-C", this.ws], { cwd: this.ws }));
      await this.buildAndCheck(2, "initial build");
      for (const op of ops) await this.apply(op);
      if (this.watcher) {
        const code = await this.watcher.stop();
        if (code !== 0) throw new DifferentialFailure(`kiln watch exited ${code} on SIGINT\n  stderr:\n    ${this.watcher.stderrTail()}`);
        this.watcher = undefined;
      }
      // After watching too: a plain build finds everything the watcher left up to date.
      await this.buildAndCheck(1, "final no-op build", { expectNoneExecuted: true });
      await this.compareWithCleanBuild();
      if (this.server) await this.stopServer();
    } catch (error) {
      if (!(error instanceof DifferentialFailure)) throw error;
      throw new DifferentialFailure(`${error.message}\n\nWhat ran (files resolved):\n  ${this.log.join("\n  ")}`);
    } finally {
      if (this.watcher) await this.watcher.stop();
      if (this.server) await runKiln(["server", "stop", "-C", this.ws], { cwd: this.ws });
      removeTree(this.base);
    }
  }

  // ------------------------------------------------------------------ the tree

  private writeInitialTree(): void {
    mkdirSync(this.ws, { recursive: true });
    writeFileSync(join(this.ws, "WORKSPACE.ts"), WORKSPACE_TS);
    this.writeBuildFiles();
    const { sources, globFiles } = this.model.spec;
    for (const s of [...sources, ...globFiles]) this.writeSource(s.path, seededBytes(s.seed, s.size));
    this.log.push(`initial build -j2: ${[...sources, ...globFiles].map((s) => `${s.path} ${showSize(s.size)}`).join(", ")}`);
  }

  private writeBuildFiles(): void {
    for (const [path, text] of Object.entries(this.model.buildFiles())) {
      mkdirSync(dirname(join(this.ws, path)), { recursive: true });
      writeFileSync(join(this.ws, path), text);
    }
  }

  private writeSource(path: string, bytes: Buffer): void {
    const file = join(this.ws, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes);
    this.recordSource(path);
  }

  /** After a content write: backdates the file if the case wants old sources, and digests it for the model. */
  private recordSource(path: string): void {
    if (this.model.spec.oldMtimes) utimesSync(join(this.ws, path), ++this.oldMtime, this.oldMtime);
    this.model.files.set(path, digestFile(join(this.ws, path)));
  }

  /** Every source file present, sorted: what an op's `file` index picks from. */
  private pickFile(index: number): string {
    const files = [...this.model.files.keys()].sort();
    return files[index % files.length]!;
  }

  // ------------------------------------------------------------------ ops

  private async apply(op: Op): Promise<void> {
    const step = `op ${showOp(op)}`;
    switch (op.kind) {
      case "edit": {
        const path = this.pickFile(op.file);
        const { size } = this.model.files.get(path)!;
        this.log.push(`${step}: ${path} (${showSize(size)}) at ${size ? op.offset % size : "-"}`);
        if (size > 0) this.editSameSize(path, op.offset % size, op.inPlace);
        return this.buildAndCheck(op.jobs, step);
      }
      case "resize": {
        const path = this.pickFile(op.file);
        this.log.push(`${step}: ${path} ${showSize(this.model.files.get(path)!.size)} -> ${showSize(op.size)}`);
        this.writeSource(path, seededBytes(op.seed, op.size));
        return this.buildAndCheck(op.jobs, step);
      }
      case "touch": {
        const path = this.pickFile(op.file);
        this.log.push(`${step}: ${path}`);
        const later = new Date(statSync(join(this.ws, path)).mtimeMs + 60_000);
        utimesSync(join(this.ws, path), later, later);
        return this.buildAndCheck(op.jobs, step, { expectNoneExecuted: true });
      }
      case "mtimePreservingEdit": {
        const path = this.pickFile(op.file);
        const file = join(this.ws, path);
        const { size } = this.model.files.get(path)!;
        this.log.push(`${step}: ${path} (${showSize(size)}) at ${size ? op.offset % size : "-"}, mtime kept`);
        const before = statSync(file);
        if (size > 0) flipBytesInPlace(file, op.offset % size, 1);
        utimesSync(file, before.atime, before.mtime);
        this.model.files.set(path, digestFile(file));
        return this.buildAndCheck(op.jobs, step);
      }
      case "rewriteSame": {
        const path = this.pickFile(op.file);
        this.log.push(`${step}: ${path}`);
        writeFileSync(join(this.ws, path), readFileSync(join(this.ws, path)));
        return this.buildAndCheck(op.jobs, step, { expectNoneExecuted: true });
      }
      case "deleteRestore":
        return this.deleteAndRestore(op.file % this.model.spec.sources.length, op.jobs, step);
      case "renameGlobFile": {
        const matches = this.model.globMatches();
        if (matches.length === 0) return this.skip(op, step);
        const from = matches[op.file % matches.length]!;
        const to = `${GLOB_DIR}/r${this.renames++}.bin`;
        this.log.push(`${step}: ${from} -> ${to}`);
        renameSync(join(this.ws, from), join(this.ws, to));
        this.model.files.set(to, this.model.files.get(from)!);
        this.model.files.delete(from);
        return this.buildAndCheck(op.jobs, step);
      }
      case "addGlobFile": {
        if (!this.model.hasGlob()) return this.skip(op, step);
        const path = `${GLOB_DIR}/n${this.renames++}.bin`;
        this.log.push(`${step}: ${path}`);
        this.writeSource(path, seededBytes(op.seed, op.size));
        return this.buildAndCheck(op.jobs, step);
      }
      case "editBuild": {
        const target = this.model.spec.targets[op.target % this.model.spec.targets.length]!;
        this.model.tags.set(target.name, this.model.tags.get(target.name)! + 1);
        this.log.push(`${step}: //${target.pkg}:${target.name} tag ${this.model.tags.get(target.name)}`);
        this.writeBuildFiles();
        return this.buildAndCheck(op.jobs, step);
      }
      case "removeKilnOut":
        this.log.push(step);
        removeTree(join(this.ws, "kiln-out"));
        // With a remote, the local cache goes too: the outputs must come back from the remote.
        if (this.remote) removeTree(this.cache);
        return this.buildAndCheck(op.jobs, step);
      case "removeCache":
        this.log.push(step);
        removeTree(this.cache);
        return this.buildAndCheck(op.jobs, step);
      case "damageParked": {
        const damaged = damageParkedSandboxes(join(this.ws, ".kiln", "sandbox", "parked"), op.seed);
        this.log.push(`${step}: ${damaged.join(", ") || "nothing parked"}`);
        removeTree(join(this.ws, "kiln-out"));
        removeTree(this.cache);
        return this.buildAndCheck(op.jobs, step);
      }
      case "tamperRemote": {
        // Every lookup of the next build goes to the remote and has its blobs refused: each step
        // must then build exactly as a local miss would, and later builds stay comparable.
        if (!this.remote) {
          this.log.push(`${step}: no remote, only a build`);
          return this.buildAndCheck(op.jobs, step, { expectNoneExecuted: true });
        }
        const altered = tamperBlobs(this.remote.casDir);
        this.log.push(`${step}: ${altered} blobs altered`);
        removeTree(join(this.ws, "kiln-out"));
        removeTree(this.cache);
        return this.buildAndCheck(op.jobs, step);
      }
      case "killBuild":
        return this.killedBuild(op.delayMs, op.jobs, step);
      case "noop":
        this.log.push(step);
        return this.buildAndCheck(op.jobs, step, { expectNoneExecuted: true });
    }
  }

  private skip(op: Op, step: string): Promise<void> {
    this.log.push(`${step}: no glob, only a build`);
    return this.buildAndCheck(op.jobs, step, { expectNoneExecuted: true });
  }

  /** Different bytes, same size: in place (same inode), or written beside and renamed over (new inode). */
  private editSameSize(path: string, offset: number, inPlace: boolean): void {
    const file = join(this.ws, path);
    if (inPlace) {
      flipBytesInPlace(file, offset, 1);
    } else {
      const bytes = readFileSync(file);
      bytes[offset] = bytes[offset]! ^ 0x5a;
      writeFileSync(`${file}.tmp`, bytes);
      renameSync(`${file}.tmp`, file);
    }
    this.recordSource(path);
  }

  private async deleteAndRestore(index: number, jobs: Jobs, step: string): Promise<void> {
    const path = this.model.spec.sources[index]!.path;
    const file = join(this.ws, path);
    const aside = join(this.base, "deleted.bin");
    this.log.push(`${step}: ${path}${this.model.sourceIsRead(index) ? "" : " (read by no target)"}`);
    renameSync(file, aside);
    const digest = this.model.files.get(path)!;
    this.model.files.delete(path);
    if (this.watcher) {
      await this.watcher.settle();
    } else if (this.model.sourceIsRead(index)) {
      const run = await runKiln(this.buildArgs(jobs, this.ws, this.cache), { cwd: this.ws });
      if (run.code !== 2 || !run.stderr.includes(path) || run.stdout.includes('"status":"executed"')) {
        throw new DifferentialFailure(
          `${step}: with ${path} deleted the build must exit 2 naming it and run nothing\n  build: exit ${run.code}\n  stderr: ${run.stderr.trim()}`,
        );
      }
    } else {
      await this.buildAndCheck(jobs, `${step} (deleted)`);
    }
    copyFileSync(aside, file);
    this.model.files.set(path, digest);
    return this.buildAndCheck(jobs, `${step} (restored)`);
  }

  private async killedBuild(delayMs: number, jobs: Jobs, step: string): Promise<void> {
    const child = spawnKiln(this.buildArgs(jobs, this.ws, this.cache), { cwd: this.ws });
    const done = collect(child);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    child.kill("SIGKILL");
    const killed = await done;
    this.log.push(`${step}: ${killed.signal === "SIGKILL" ? "killed" : `finished first (exit ${killed.code})`}`);
    return this.buildAndCheck(jobs, `${step} (next build)`);
  }

  // ------------------------------------------------------------------ builds and checks

  private buildArgs(jobs: Jobs, ws: string, cache: string): string[] {
    const remote = this.remote && ws === this.ws ? ["--remote-cache", this.remote.url, "--remote-upload"] : [];
    const oneOff = this.server && ws === this.ws && ++this.builds % 3 === 0 ? ["--no-server"] : [];
    return ["build", "//...", "--json", "-j", String(jobs), "--cache-dir", cache, "-C", ws, ...remote, ...oneOff];
  }

  /** The server ends when told, and took every build it was handed without an internal error. */
  private async stopServer(): Promise<void> {
    const log = join(this.ws, ".kiln", "server.log");
    const served = existsSync(log) ? readFileSync(log, "utf8") : "";
    const stopped = await runKiln(["server", "stop", "-C", this.ws], { cwd: this.ws });
    if (stopped.code !== 0 || !stopped.stdout.includes("stopped")) throw new DifferentialFailure(`kiln server stop exited ${stopped.code}\n  ${stopped.stderr.trim()}`);
    if (!/build \d+: build/.test(served)) throw new DifferentialFailure(`the kiln server built nothing; its log:\n  ${served.trim()}`);
    if (/internal error|could not record/.test(served)) throw new DifferentialFailure(`the kiln server logged trouble:\n  ${served.trim()}`);
  }

  private async build(jobs: Jobs, ws = this.ws, cache = this.cache): Promise<JsonRun> {
    const raw = await runKiln(this.buildArgs(jobs, ws, cache), { cwd: ws });
    try {
      return parseJsonRun(raw);
    } catch (error) {
      throw new DifferentialFailure(`kiln build -j${jobs}: ${(error as Error).message}`);
    }
  }

  private async buildAndCheck(jobs: Jobs, step: string, options: { expectNoneExecuted?: boolean } = {}): Promise<void> {
    const run = this.watcher ? await this.watcher.settle() : await this.build(jobs);
    if (run.code !== 0) this.fail(`${step}: the build failed`, run);
    if (options.expectNoneExecuted && run.executed.length > 0) this.fail(`${step}: nothing changed, yet it executed ${run.executed.join(" ")}`, run);
    const wrong = compareTree(join(this.ws, "kiln-out"), this.model.expectedOutputs());
    if (wrong) this.fail(`${step}: ${wrong}`, run);
  }

  /** A copy of the sources built from nothing: kiln-out must equal the incremental one, byte for byte. */
  private async compareWithCleanBuild(): Promise<void> {
    const clean = join(this.base, "clean");
    cpSync(this.ws, clean, { recursive: true, filter: (src) => !/^(kiln-out|\.kiln)(\/|$)/.test(relative(this.ws, src)) });
    const run = await this.build(2, clean, join(this.base, "clean-cache"));
    if (run.code !== 0) this.fail("clean build of a copy: the build failed", run);
    const expected = new Map([...listTree(join(this.ws, "kiln-out"))].map(([path, bytes]) => [path, bytes.toString("latin1")]));
    const wrong = compareTree(join(clean, "kiln-out"), expected, "latin1");
    if (wrong) this.fail(`clean build of a copy differs from the incremental kiln-out: ${wrong}`, run);
  }

  private fail(message: string, run: JsonRun): never {
    const stderr = run.stderr.trim().split("\n").slice(-15).join("\n    ");
    throw new DifferentialFailure(
      `${message}\n  build: exit ${run.code}, executed [${run.executed.join(" ")}], cached [${run.cached.join(" ")}]` +
        (stderr ? `\n  stderr:\n    ${stderr}` : ""),
    );
  }
}

/** kiln-out-relative path (`kiln-out/p/t0/h.txt`) -> bytes of every file under `dir`. */
function listTree(dir: string, root = dirname(dir), into = new Map<string, Buffer>()): Map<string, Buffer> {
  if (!existsSync(dir)) return into;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) listTree(path, root, into);
    else into.set(relative(root, path), readFileSync(path));
  }
  return into;
}

/** The first difference between the files under `dir` and `expected`, or undefined. */
function compareTree(dir: string, expected: Map<string, string>, encoding: BufferEncoding = "utf8"): string | undefined {
  const actual = listTree(dir);
  const extra = [...actual.keys()].filter((p) => !expected.has(p));
  if (extra.length > 0) return `unexpected files ${extra.join(" ")}`;
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (!got) return `${path} is missing`;
    if (!got.equals(Buffer.from(want, encoding))) return `${path} differs:\n  expected ${JSON.stringify(want)}\n  got      ${JSON.stringify(got.toString(encoding))}`;
  }
  return undefined;
}

/** Settles after this long without a rebuild starting or ending. */
const QUIET_MS = 400;
/** An op whose events start no rebuild (nothing read changed) is settled after this. */
const NO_EVENT_MS = 1500;

/**
 * `kiln watch --json` seen from outside: rebuilds start with a "changed; rebuilding" line on
 * stderr and end with a summary on stdout (or an error on stderr). `settle()` waits for the op's
 * rebuilds to end and go quiet, and returns what they did as one run.
 */
class SettlingWatch {
  private stdout = "";
  private stderr = "";
  /** How much of stdout and how many starts and ends settle() has consumed. */
  private seenStdout = 0;
  private seenEnds = 0;
  private lastActivity = Date.now();
  private readonly exited: Promise<number | null>;

  constructor(private readonly child: import("node:child_process").ChildProcess) {
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout += chunk;
      this.lastActivity = Date.now();
    });
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
      this.lastActivity = Date.now();
    });
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  }

  private get starts(): number {
    return 1 + (this.stderr.match(/; rebuilding\n/g)?.length ?? 0);
  }

  private get ends(): number {
    return (this.stdout.match(/"type":"summary"/g)?.length ?? 0) + (this.stderr.match(/kiln: error:/g)?.length ?? 0);
  }

  async settle(): Promise<JsonRun> {
    const since = Date.now();
    for (;;) {
      if (this.child.exitCode !== null) throw new DifferentialFailure(`kiln watch exited (${this.child.exitCode})\n  stderr:\n    ${this.stderrTail()}`);
      const idle = this.starts === this.ends;
      const moved = this.ends > this.seenEnds;
      const quiet = Date.now() - this.lastActivity > QUIET_MS;
      if (idle && quiet && (moved || Date.now() - since > NO_EVENT_MS)) break;
      if (Date.now() - since > 60_000) throw new DifferentialFailure(`kiln watch did not settle in 60 s\n  stderr:\n    ${this.stderrTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    this.seenEnds = this.ends;
    const fresh = this.stdout.slice(this.seenStdout);
    this.seenStdout = this.stdout.length;
    const lines = fresh.split("\n").filter((line) => line.trim() !== "");
    const steps = lines.map((line) => JSON.parse(line)).filter((event) => event.type === "step");
    const pick = (status: string) => steps.filter((s) => s.status === status).map((s) => s.label as string).sort();
    const failed = pick("failed");
    const summaries = lines.filter((line) => line.includes('"type":"summary"'));
    const summary = summaries.length > 0 ? JSON.parse(summaries.at(-1)!) : { type: "summary", steps: 0, executed: 0, cached: 0, cachedLocal: 0, cachedRemote: 0, failed: 0, ms: 0 };
    // Only the last rebuild's outcome counts: an earlier one may have been cut short by the op's next event.
    return { code: summary.failed > 0 ? 1 : 0, signal: null, stdout: fresh, stderr: this.stderr, steps, summary, executed: pick("executed"), cached: pick("cached"), failed };
  }

  stderrTail(): string {
    return this.stderr.trim().split("\n").slice(-15).join("\n    ");
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill("SIGINT");
    return this.exited;
  }
}

/**
 * Removes from each parked sandbox every entry whose position in a listing of it is a multiple of
 * a seeded stride (directories with what they hold, files, links), leaving its manifest in place
 * and now wrong, as a copy or cleanup that skipped some of `.kiln/` would. A third of the time
 * each sandbox is then left as a copy without hard links leaves it too: no manifest (so it is
 * surveyed) and every link a file of its own (which a survey takes for a spare copy). Returns what
 * it removed.
 */
function damageParkedSandboxes(parked: string, seed: number): string[] {
  const removed: string[] = [];
  let sandboxes: string[];
  try {
    sandboxes = readdirSync(parked);
  } catch {
    return removed;
  }
  const stride = 2 + (seed % 5);
  for (const name of sandboxes) {
    const dir = join(parked, name);
    const entries = readdirSync(dir, { recursive: true, withFileTypes: true })
      .map((entry) => join(entry.parentPath, entry.name))
      .filter((path) => !path.endsWith("/.kiln-sandbox"))
      .sort();
    entries.forEach((path, i) => {
      if ((i + seed) % stride !== 0) return;
      rmSync(path, { recursive: true, force: true });
      removed.push(relative(parked, path));
    });
    if (seed % 3 !== 0) continue;
    rmSync(join(dir, ".kiln-sandbox"), { force: true });
    removed.push(relative(parked, join(dir, ".kiln-sandbox")));
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      if (!entry.isFile() || lstatSync(path).nlink === 1) continue;
      copyFileSync(path, `${path}.copy`);
      renameSync(`${path}.copy`, path);
    }
  }
  return removed;
}
