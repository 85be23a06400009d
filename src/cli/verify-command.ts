/**
 * `kiln verify <patterns>`: are the steps deterministic? Builds the patterns as usual (the
 * reference: cached results), then builds them again in a copy of the workspace with a fresh
 * cache and fresh sandboxes, reading no cached result, and compares each step's outputs where
 * both builds computed the same key. A step whose outputs differ (unseeded randomness,
 * timestamps, map order) is reported; exit 1 if any is. Sources are read from the real cache, so
 * url sources are not fetched again and locked snapshots are the same.
 */
import { cpSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { defaultCacheDir } from "../cache/local-store.js";
import type { BuildEvent } from "../events.js";
import type { SandboxChoice } from "../exec/namespace-sandbox.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { OUTPUT_DIR, STATE_DIR } from "../workspace/root.js";
import { currentPackage, parsePatterns } from "./up-to-date.js";

interface VerifyOptions {
  workspace?: string;
  cacheDir?: string;
  jobs?: number;
  sandbox?: SandboxChoice;
}

/** Shows warnings and failures of a build kiln verify runs; step lines are its own. */
function quietReporter(prefix: string): (event: BuildEvent) => void {
  return (event) => {
    if (event.type === "warning") process.stderr.write(`kiln: warning: ${event.message}\n`);
    if (event.type === "failure") process.stderr.write(`kiln: ${prefix}: FAILED ${event.label}: ${event.message}\n${event.stderrTail ? `  ${event.stderrTail.split("\n").join("\n  ")}\n` : ""}`);
  };
}

export async function runVerifyCommand(patternTexts: string[], options: VerifyOptions): Promise<number> {
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const patterns = parsePatterns(patternTexts, currentPackage(session.root, process.cwd()));
  const cacheDir = options.cacheDir ?? defaultCacheDir(process.env);
  const common = {
    mode: "build" as const,
    patterns,
    jobs: options.jobs ?? availableParallelism(),
    keepGoing: true,
    explain: false,
    sandbox: options.sandbox ?? "auto",
    hostEnv: process.env,
  };
  const reference = await session.build({ ...common, readCache: true, cacheDir, reporter: quietReporter("reference build") }, new AbortController().signal);
  if (reference.failed.length > 0) return reference.environmentFaults.length > 0 ? 2 : 1;

  // The copy: every file of the tree but kiln-out/ and .kiln/; node_modules linked, not copied.
  const scratch = join(session.stateDir, "verify", String(process.pid));
  rmSync(scratch, { recursive: true, force: true });
  const copy = join(scratch, "ws");
  mkdirSync(copy, { recursive: true });
  for (const entry of readdirSync(session.root, { withFileTypes: true })) {
    if (entry.name === OUTPUT_DIR || entry.name === STATE_DIR) continue;
    if (entry.name === "node_modules") symlinkSync(join(session.root, entry.name), join(copy, entry.name));
    else cpSync(join(session.root, entry.name), join(copy, entry.name), { recursive: true, verbatimSymlinks: true });
  }
  try {
    const again = WorkspaceSession.open(copy, copy);
    const rerun = await again.build(
      { ...common, readCache: false, cacheDir: join(scratch, "cache"), sourceCacheDir: cacheDir, reporter: quietReporter("rebuild") },
      new AbortController().signal,
    );
    let differ = 0;
    let compared = 0;
    const lines: string[] = [];
    const labels = [...reference.outputs.keys()].sort();
    for (const label of labels) {
      const before = session.lastResults.get(label);
      const after = again.lastResults.get(label);
      if (!before || !after || rerun.failed.includes(label)) {
        lines.push(`FAILED   ${label}: the rebuild did not finish it`);
        differ++;
        continue;
      }
      if (before.key !== after.key) {
        lines.push(`skipped  ${label}: its inputs differed in the rebuild (a step it depends on differs)`);
        continue;
      }
      compared++;
      const old = new Map(before.outputs.map((o) => [o.name, o.digest]));
      const changed = after.outputs.filter((o) => old.get(o.name) !== o.digest);
      if (changed.length === 0) lines.push(`same     ${label}`);
      else {
        differ++;
        lines.push(`DIFFERS  ${label}: ${changed.map((o) => `${o.name} (sha256 ${old.get(o.name)?.slice(0, 12)} then ${o.digest.slice(0, 12)})`).join(", ")}`);
      }
    }
    process.stdout.write(`${lines.join("\n")}\n`);
    process.stdout.write(
      `kiln verify: ${labels.length} steps rebuilt without the cache, ${compared} compared, ${differ} differ` +
        (differ > 0 ? ` (not reproducible: unseeded randomness, timestamps or map order?)` : "") + "\n",
    );
    return differ > 0 ? 1 : 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
