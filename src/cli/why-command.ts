/** `kiln why <label>`: why the target's step last ran — what differed from the run before. */
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { inputError } from "../errors.js";
import { describeKeyChanges } from "../key/action-key.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { currentPackage, parsePatterns } from "./up-to-date.js";
import { join, resolve } from "node:path";
import { diffStatements } from "../lock/release-diff.js";

/** `kiln why <label> --since <release>`: the last build of the label against the release's provenance. */
async function whatChangedSince(session: WorkspaceSession, store: LocalStore, label: string, since: string, out: string | undefined): Promise<number> {
  const { findRelease, readReleaseStatement } = await import("./release-command.js");
  const { statementFor } = await import("./provenance-command.js");
  const release = findRelease(out ? resolve(out) : join(session.root, "dist"), since, label);
  const lines = diffStatements(readReleaseStatement(release), await statementFor(session, store, label, false));
  process.stdout.write(`${label}: since release ${release.manifest.name} (key ${release.manifest.key.slice(0, 12)}), as last built (key ${session.lastResults.get(label)!.key.slice(0, 12)}):\n`);
  process.stdout.write(lines.length > 0 ? `${lines.map((l) => `  ${l}`).join("\n")}\n` : "  nothing: the same inputs, params and code\n");
  return 0;
}

export async function runWhyCommand(labelText: string, options: { workspace?: string; cacheDir?: string; since?: string; out?: string }): Promise<number> {
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const [pattern] = parsePatterns([labelText], currentPackage(session.root, process.cwd()));
  if (pattern?.kind !== "label") throw inputError(`kiln why takes one label (//pkg:name), not the pattern ${labelText}`);
  const key = session.lastResults.get(pattern.label)?.key;
  if (!key) throw inputError(`${pattern.label} has not been built in this workspace yet (run kiln build ${pattern.label})`);
  const store = await LocalStore.open(options.cacheDir ?? defaultCacheDir(process.env), session.statCache);
  if (options.since) {
    try {
      return await whatChangedSince(session, store, pattern.label, options.since, options.out);
    } finally {
      await store.close();
    }
  }
  try {
    const result = store.getAction(key);
    if (!result) {
      process.stdout.write(`${pattern.label}: its last key ${key.slice(0, 12)} is no longer in the cache (cleaned?)\n`);
      return 0;
    }
    const previous = result.previousKey ? store.getIngredients(result.previousKey) : undefined;
    const current = store.getIngredients(key);
    const when = new Date(result.createdAt).toISOString();
    const lines = [`${pattern.label}: key ${key.slice(0, 12)}, executed ${when} in ${(result.ms / 1000).toFixed(2)}s`];
    const reasons = result.previousKey
      ? previous && current
        ? describeKeyChanges(previous, current)
        : [`the run before (key ${result.previousKey.slice(0, 12)}) is no longer in the cache`]
      : ["it had not been built in this workspace before"];
    lines.push(...reasons.map((reason) => `  ${reason}`));
    if (result.sandbox) {
      const how =
        result.sandbox === "bwrap"
          ? "namespace sandbox (bwrap)"
          : result.sandbox === "unshare"
            ? "namespace sandbox (unshare)"
            : "directory sandbox (not isolated from the rest of the machine)";
      lines.push(`  ran in: ${how}, ${result.network ? "with the network (network: true)" : "without network"}`);
    }
    lines.push(`  outputs: ${result.outputs.map((o) => `${o.name} (${o.digest.slice(0, 12)}, ${o.size} bytes)`).join(", ") || "none"}`);
    if (result.log) lines.push(`  log: ${store.blobPath(result.log)}`);
    process.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
