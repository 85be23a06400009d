/**
 * The git commit a workspace is at, for provenance: `git rev-parse HEAD`, origin's URL (without
 * user information: a token in a clone URL must not end up in a statement) and whether the tree
 * has uncommitted changes. Undefined outside a repository or without git: there is no commit to name.
 */
import { spawnSync } from "node:child_process";
import type { GitState } from "./provenance.js";

function git(root: string, args: string[]): string | undefined {
  const run = spawnSync("git", args, { cwd: root, encoding: "utf8", timeout: 10_000, env: { ...process.env, GIT_OPTIONAL_LOCKS: "0" } });
  return run.status === 0 ? run.stdout.trim() : undefined;
}

/** A remote URL as a statement may show it: `https://user:token@host/x` becomes `https://host/x`. */
export function publicRemote(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === "file:") return url;
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    // scp-like `git@host:org/repo.git`: the user is not a secret, keep it as written
    return url;
  }
}

export function readGitState(root: string): GitState | undefined {
  const commit = git(root, ["rev-parse", "--verify", "HEAD"]);
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
  const remote = git(root, ["remote", "get-url", "origin"]);
  // `--untracked-files=normal`: a new data file no commit has is as much a change as an edit.
  const status = git(root, ["status", "--porcelain", "--untracked-files=normal", "--", "."]);
  return { commit, ...(remote ? { remote: publicRemote(remote) } : {}), dirty: status === undefined || status.length > 0 };
}
