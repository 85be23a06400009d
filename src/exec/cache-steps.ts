/**
 * The two cache arrows of a build, through the cache interface only: restore a keyed target
 * (outputs already in kiln-out from its last build with this key, else a verified hit
 * materialized), and store an executed one (the result indexed, then its outputs placed).
 */
import type { ActionCache } from "../cache/action-cache.js";
import type { ActionResult, OutputRecord } from "../cache/local-store.js";
import { outputsInPlace } from "../cache/materialize.js";
import type { PreparedAction } from "../key/action-inputs.js";
import type { StatCache } from "../state/stat-cache.js";
import type { LastResult } from "../state/workspace-state.js";

export interface Restored {
  outputs: readonly OutputRecord[];
  source: "local" | "remote";
}

/**
 * The cached result for the prepared action, with its outputs put in `outDir`, or undefined (a
 * miss): outputs already in place when the label was last built with this key (the no-op case,
 * no store access), else a verified entry from the cache.
 */
export async function restoreFromCache(
  cache: ActionCache,
  statCache: StatCache,
  label: string,
  outDir: string,
  prepared: PreparedAction,
  last: LastResult | undefined,
): Promise<Restored | undefined> {
  const { key } = prepared;
  const builtWithKey = last?.key === key;
  let restored: Restored | undefined;
  if (builtWithKey && outputsInPlace(outDir, last.outputs, statCache)) restored = { outputs: last.outputs, source: "local" };
  else {
    // Built with this key but out of place: lookup need not stat them again.
    const hit = await cache.lookup(key, { label, outDir, knownOutOfPlace: builtWithKey, outs: prepared.ingredients.outs, ingredients: prepared.ingredients });
    if (!hit) return undefined;
    try {
      cache.materialize(outDir, hit.result.outputs);
    } catch (error) {
      // A blob verified a moment ago is gone: \`kiln cache gc\` (or a person) removed it beside
      // this build. A miss, so the step runs; it never fails the build.
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    restored = { outputs: hit.result.outputs, source: hit.source };
  }
  // Where the sources came from, and the BUILD.ts/WORKSPACE.ts/kiln.lock that define the action,
  // may differ this time with the same key: provenance names them as this build read them (the
  // store writes only when they differ).
  cache.refreshOrigins(key, prepared.origins);
  return restored;
}

/** An executed action's result into the cache (outputs are blobs already), then into kiln-out. */
export function storeExecuted(cache: ActionCache, outDir: string, prepared: PreparedAction, result: ActionResult): void {
  cache.store(prepared.key, result, prepared.ingredients, prepared.origins);
  cache.materialize(outDir, result.outputs);
}
