/**
 * `kiln lock [--check]`: resolves every source WORKSPACE.ts declares as it is now (url sources
 * fetched and verified, path sources hashed), freezes path sources into snapshots in the cache,
 * and writes kiln.lock; with --check it writes nothing and exits 1 listing what drifted.
 */
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { resolveCurrentSource } from "../lock/build-sources.js";
import { describeDrift, diffLock, LOCK_FILE, readLockFile, writeLockFile, type LockEntry } from "../lock/lockfile.js";
import { snapshotSource } from "../lock/sources.js";
import { WorkspaceSession } from "../session/workspace-session.js";

export async function runLockCommand(options: { workspace?: string; cacheDir?: string; check?: boolean }): Promise<number> {
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const { manifest } = await session.load([]);
  const store = await LocalStore.open(options.cacheDir ?? defaultCacheDir(process.env), session.statCache);
  try {
    const context = {
      root: session.root,
      sources: manifest.sources,
      store,
      statCache: session.statCache,
      warn: (message: string) => process.stderr.write(`kiln: warning: ${message}\n`),
    };
    const current: Record<string, LockEntry> = {};
    for (const name of Object.keys(manifest.sources).sort()) {
      const source = await resolveCurrentSource(context, name);
      if (!options.check && manifest.sources[name]!.kind === "path") await snapshotSource(store, source);
      current[name] = source.entry;
    }
    const locked = readLockFile(session.root);
    const drift = diffLock(locked?.sources ?? {}, current);
    if (options.check) {
      if (!locked) {
        process.stderr.write(`kiln: ${LOCK_FILE} does not exist; run kiln lock\n`);
        return Object.keys(current).length > 0 ? 1 : 0;
      }
      if (drift.length === 0) {
        process.stdout.write(`${LOCK_FILE}: ${Object.keys(current).length} sources, all as locked\n`);
        return 0;
      }
      process.stdout.write(`${LOCK_FILE}: ${drift.length} of ${Object.keys(current).length + drift.filter((d) => d.change === "removed").length} sources differ:\n`);
      for (const d of drift) process.stdout.write(`  ${describeDrift(d)}\n`);
      return 1;
    }
    writeLockFile(session.root, current);
    const changed = drift.length === 0 ? "unchanged" : drift.map((d) => `@${d.name} ${d.change}`).join(", ");
    process.stdout.write(`${LOCK_FILE}: ${Object.keys(current).length} sources (${changed})\n`);
    return 0;
  } finally {
    session.save();
    await store.close();
  }
}
