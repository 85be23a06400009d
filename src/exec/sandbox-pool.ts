/**
 * Hands out sandboxes for one build and takes them back (see sandbox.ts for why they are reused):
 * - a label's own parked sandbox, left by an earlier build, comes first: the incremental case,
 *   where an aggregator's 10,000 directories and links are all still right;
 * - otherwise one released earlier in this build: the next leaf of a package needs the same
 *   directories but one, which is renamed into place;
 * - otherwise a new one.
 * At the end of the build, sandboxes still held are parked under the label that used them last.
 */
import { renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensureDirectory } from "../ensure-directory.js";
import { digestBytes } from "../key/digest.js";
import { Sandbox } from "./sandbox.js";

/** A sandbox with more directories than this is parked for its own label only, never lent. */
const LENDABLE_DIRECTORIES = 256;

let sandboxCounter = 0;

export class SandboxPool {
  private readonly free: Sandbox[] = [];
  private readonly parkedDir: string;
  private readonly madeDirs = new Set<string>();

  constructor(private readonly base: string) {
    this.parkedDir = join(base, "parked");
  }

  claim(label: string): Sandbox {
    const dir = join(this.base, `${process.pid}-${++sandboxCounter}`);
    const parking = this.parkingOf(label);
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
    try {
      sandbox.empty();
    } catch {
      sandbox.remove();
      return;
    }
    if (sandbox.directoryCount <= LENDABLE_DIRECTORIES) this.free.push(sandbox);
    else this.park(sandbox);
  }

  /** Parks the sandboxes this build still holds, each under the label it served last. */
  close(): void {
    for (const sandbox of this.free.splice(0)) this.park(sandbox);
  }

  private park(sandbox: Sandbox): void {
    try {
      ensureDirectory(this.parkedDir, this.madeDirs);
      sandbox.writeManifest();
      renameSync(sandbox.dir, sandbox.parking);
    } catch {
      // Another kiln parked one for this label meanwhile.
      sandbox.remove();
    }
  }

  private parkingOf(label: string): string {
    return join(this.parkedDir, digestBytes(label).slice(0, 24));
  }
}
