/**
 * Which content of each source a build reads, given kiln.lock. The rule: a source whose current
 * content matches the lock is read where it is; one that drifted is a warning (the lock is never
 * rewritten by a build) and is read from its locked snapshot when the store has it, else as it is
 * now; with --locked a drift, or a source missing from the lock, refuses the build (exit 2).
 */
import type { SourceDeclaration } from "../api/workspace.js";
import type { LocalStore } from "../cache/local-store.js";
import { inputError, KilnError } from "../errors.js";
import type { StatCache } from "../state/stat-cache.js";
import { describeDrift, diffLock, LOCK_FILE, type LockEntry, type LockFile } from "./lockfile.js";
import { hashPathSource, readSnapshot, resolveUrlSource, type ResolvedSource } from "./sources.js";

export interface SourceContext {
  root: string;
  sources: Record<string, SourceDeclaration>;
  store: LocalStore;
  statCache: StatCache;
  warn: (message: string) => void;
}

/** A source as it is now (url: fetched if needed; path: hashed live). For `kiln lock`. */
export async function resolveCurrentSource(context: SourceContext, name: string): Promise<ResolvedSource> {
  const declared = context.sources[name]!;
  return declared.kind === "url"
    ? resolveUrlSource(context.store, name, declared, context.warn)
    : hashPathSource(context.root, name, declared, context.statCache);
}

function refuse(drift: string): KilnError {
  return inputError(`--locked: a source differs from ${LOCK_FILE}, so nothing was built:\n  ${drift}\n  Run kiln lock to accept the new content (and commit ${LOCK_FILE}), or restore the source.`);
}

/** The sources `names` as this build reads them. */
export async function resolveBuildSources(
  context: SourceContext,
  names: readonly string[],
  lock: LockFile | undefined,
  locked: boolean,
): Promise<Map<string, ResolvedSource>> {
  const resolved = new Map<string, ResolvedSource>();
  const unlocked: string[] = [];
  for (const name of [...names].sort()) {
    const declared = context.sources[name]!;
    const entry: LockEntry | undefined = lock?.sources[name];
    if (!entry) {
      if (locked) throw refuse(`@${name}: not in ${LOCK_FILE}${lock ? "" : ` (there is no ${LOCK_FILE})`}`);
      unlocked.push(name);
      resolved.set(name, await resolveCurrentSource(context, name));
      continue;
    }
    if (declared.kind === "url") {
      // The pin in WORKSPACE.ts is what is fetched; a lock saying otherwise is stale.
      const pinned: LockEntry = { kind: "url", location: declared.url, sha256: declared.sha256, size: entry.size };
      const [drift] = diffLock({ [name]: entry }, { [name]: pinned });
      if (drift && locked) throw refuse(describeDrift(drift));
      const source = await resolveUrlSource(context.store, name, declared, context.warn);
      if (drift) context.warn(`${describeDrift({ ...drift, current: source.entry })}\n  building with the sha256 WORKSPACE.ts pins; run kiln lock to update ${LOCK_FILE}`);
      resolved.set(name, source);
      continue;
    }
    let live: ResolvedSource | undefined;
    let missing: unknown;
    try {
      live = await hashPathSource(context.root, name, declared, context.statCache);
    } catch (error) {
      missing = error;
    }
    const [drift] = live ? diffLock({ [name]: entry }, { [name]: live.entry }) : [undefined];
    if (live && !drift) {
      resolved.set(name, live);
      continue;
    }
    const snapshot = entry.kind === "path" && entry.location === declared.path ? await readSnapshot(context.store, name, declared, entry) : undefined;
    if (!live) {
      if (!snapshot || locked) throw missing;
      context.warn(`@${name}: ${declared.path} is gone; building from the snapshot ${LOCK_FILE} pins (sha256 ${entry.sha256})`);
      resolved.set(name, snapshot);
      continue;
    }
    if (locked) throw refuse(describeDrift(drift!));
    context.warn(
      `${describeDrift(drift!)}\n  ` +
        (snapshot
          ? `building from the snapshot ${LOCK_FILE} pins; run kiln lock to build from the new content`
          : `the locked snapshot is not in this cache, so building from the new content; run kiln lock to record it`),
    );
    resolved.set(name, snapshot ?? live);
  }
  if (unlocked.length > 0) {
    context.warn(`${unlocked.map((n) => `@${n}`).join(", ")} ${unlocked.length === 1 ? "is" : "are"} not in ${LOCK_FILE}: run kiln lock to pin ${unlocked.length === 1 ? "it" : "them"} (and commit ${LOCK_FILE})`);
  }
  return resolved;
}
