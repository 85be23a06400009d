/**
 * Hands out sandboxes for one build and takes them back (see sandbox.ts for why they are reused):
 * - a label's own parked sandbox, left by an earlier build, comes first: the incremental case,
 *   where an aggregator's 10,000 directories and links are all still right;
 * - otherwise one released earlier in this build: the next leaf of a package needs the same
 *   directories but one, which is renamed into place;
 * - otherwise a new one.
 * At the end of the build, sandboxes still held are parked under the label that used them last,
 * and those being removed are given a moment to go (see `close`).
 */
import { spawn } from "node:child_process";
import { renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensureDirectory } from "../ensure-directory.js";
import { digestBytes } from "../key/digest.js";
import { Sandbox } from "./sandbox.js";

/** A sandbox with more directories than this is parked for its own label only, never lent. */
const LENDABLE_DIRECTORIES = 256;
/**
 * KILN_SANDBOX_LEND_UP_TO overrides it (a test knob: the differential test sets it low, so its
 * small workspaces take the paths of an aggregator's sandbox: parked at close, held in watch).
 */
function lendableDirectories(): number {
  const configured = Number(process.env.KILN_SANDBOX_LEND_UP_TO);
  return Number.isInteger(configured) && configured >= 0 ? configured : LENDABLE_DIRECTORIES;
}
/** How long a build's end waits for sandbox removals before handing them to a detached `rm`. */
const REMOVAL_GRACE_MS = 200;

let sandboxCounter = 0;

export class SandboxPool {
  private readonly free: Sandbox[] = [];
  /** Released sandboxes too large to lend, emptied and parked by close(). */
  private readonly toPark: Sandbox[] = [];
  private readonly parkedDir: string;
  private readonly madeDirs = new Set<string>();
  /** Sandboxes being removed off the main thread, by directory. */
  private readonly removals = new Map<string, Promise<void>>();

  /**
   * `held`: watch mode's sandboxes kept between builds of one session, by parking path. Those too
   * large to lend are handed to it at close() instead of parked, and claimed from it first: no
   * manifest written or read, no rename, and no other kiln can claim them meanwhile (they keep
   * this process's name). parkHeld() parks them when the session ends.
   */
  constructor(
    private readonly base: string,
    private readonly held?: Map<string, Sandbox>,
  ) {
    this.parkedDir = join(base, "parked");
  }

  /** `fresh`: a new sandbox, never a parked or lent one (a retry after a parked one proved stale). */
  claim(label: string, fresh = false): Sandbox {
    const dir = join(this.base, `${process.pid}-${++sandboxCounter}`);
    const parking = this.parkingOf(label);
    if (fresh) {
      ensureDirectory(this.base, this.madeDirs);
      return Sandbox.create(dir, parking);
    }
    const kept = this.held?.get(parking);
    if (kept) {
      this.held!.delete(parking);
      // As trusted as a parked sandbox's manifest (it is what that manifest would say): a layout
      // that proves it wrong drops it and lays the step out in a new one (local-executor.ts).
      kept.trustedManifest = true;
      return kept;
    }
    try {
      renameSync(parking, dir);
      return Sandbox.reopen(dir, parking);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") rmSync(dir, { recursive: true, force: true });
    }
    const lent = this.free.pop();
    if (lent) {
      lent.parking = parking;
      return lent;
    }
    ensureDirectory(this.base, this.madeDirs);
    return Sandbox.create(dir, parking);
  }

  /** Empties the sandbox and keeps it for the next action (see the module comment). */
  release(sandbox: Sandbox): void {
    // Too large to lend: emptied and parked at the build's end, not now. An aggregator's
    // 100,000 directories and links take ~0.4 s to empty and as long to write into the manifest,
    // which the build's result (watch mode reports it before close()) should not wait for. A crash
    // before then loses only the reuse: the sandbox is named like any other of this process, and
    // a later build removes it.
    if (sandbox.directoryCount > lendableDirectories()) {
      this.toPark.push(sandbox);
      return;
    }
    if (this.empty(sandbox)) this.free.push(sandbox);
  }

  /** Empties a sandbox for reuse; false (and it is discarded) if that failed. */
  private empty(sandbox: Sandbox): boolean {
    try {
      sandbox.empty();
      return true;
    } catch {
      this.discard(sandbox);
      return false;
    }
  }

  /** Removes a sandbox kiln no longer trusts (or could not park), off the main thread. */
  discard(sandbox: Sandbox): void {
    const removal = sandbox.remove();
    this.removals.set(sandbox.dir, removal);
    void removal.then(() => this.removals.delete(sandbox.dir));
  }

  /**
   * Parks the sandboxes this build still holds, each under the label it served last, and lets
   * pending removals finish, briefly: removing an aggregator's sandbox of 10,000 directories
   * takes seconds on this file system, and the user should not wait for it. What is left goes to
   * a detached `rm -rf` that outlives kiln (a later build also removes sandboxes of dead kilns).
   */
  async close(): Promise<void> {
    for (const sandbox of this.free.splice(0)) this.park(sandbox);
    for (const sandbox of this.toPark.splice(0)) {
      if (!this.empty(sandbox)) continue;
      if (this.held) this.held.set(sandbox.parking, sandbox);
      else this.park(sandbox);
    }
    if (this.removals.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolvePromise) => (timer = setTimeout(resolvePromise, REMOVAL_GRACE_MS)));
    await Promise.race([Promise.all(this.removals.values()), grace]);
    clearTimeout(timer);
    if (this.removals.size === 0) return;
    spawn("rm", ["-rf", "--", ...this.removals.keys()], { detached: true, stdio: "ignore" }).unref();
    this.removals.clear();
  }

  /** Parks every held sandbox (watch mode's end), for the next build to claim by its label. */
  parkHeld(): void {
    if (!this.held) return;
    for (const sandbox of this.held.values()) this.park(sandbox);
    this.held.clear();
  }

  private park(sandbox: Sandbox): void {
    try {
      ensureDirectory(this.parkedDir, this.madeDirs);
      sandbox.writeManifest();
      renameSync(sandbox.dir, sandbox.parking);
    } catch {
      // Another kiln parked one for this label meanwhile.
      this.discard(sandbox);
    }
  }

  private parkingOf(label: string): string {
    return join(this.parkedDir, digestBytes(label).slice(0, 24));
  }
}
