/**
 * Does the tree still hold what a statement says the build read? For each resolved dependency
 * that names something in the workspace (a file, a BUILD.ts, a path `@source`, an installed npm
 * package's package.json), the digest the statement records against the one the tree has now.
 * Url sources, tools, kiln's own code and the git commit are not re-hashed (see `uncheckedReason`).
 * Pure: files are digested by the `digestOf` the caller passes.
 */
import type { Json } from "../api/action-spec.js";
import type { ResourceDescriptor } from "./provenance.js";

/** One material to re-hash: its name in the statement, the workspace path, and the recorded digest. */
export interface MaterialCheck {
  name: string;
  /** Workspace-relative, or absolute (a path source outside the tree). */
  path: string;
  sha256: string;
  /**
   * "directory": a directory source, whose digest is that of its listing; "npm": a package's
   * package.json, found in the workspace's node_modules or kiln's own.
   */
  kind: "file" | "directory" | "npm";
}

export interface Drift {
  name: string;
  path: string;
  recorded: string;
  /** Undefined when the file is gone. */
  now: string | undefined;
}

function annotation(descriptor: ResourceDescriptor, key: string): Json | undefined {
  return descriptor.annotations?.[key];
}

/** Why a material is not re-hashed, or undefined when it is (see `materialCheckOf`). */
export function uncheckedReason(descriptor: ResourceDescriptor): string | undefined {
  const kind = annotation(descriptor, "kind");
  if (kind === "url") return "a url source (fetched by the sha256 pinned in WORKSPACE.ts, which is checked)";
  if (kind === "tool") return "a host tool (named by its version)";
  if (kind === "git") return "the git commit";
  if (descriptor.name?.startsWith("kiln:")) return "kiln's own code (named by the builder's version)";
  if (!descriptor.digest?.sha256 && kind !== "npm") return "no sha256";
  return undefined;
}

/** The check for one material, or undefined when it is not re-hashed. */
export function materialCheckOf(descriptor: ResourceDescriptor): MaterialCheck | undefined {
  if (uncheckedReason(descriptor) !== undefined || !descriptor.name) return undefined;
  const kind = annotation(descriptor, "kind");
  if (kind === "npm") {
    const manifest = annotation(descriptor, "packageJson") as { path?: string; sha256?: string } | undefined;
    if (!manifest?.path || !manifest.sha256) return undefined;
    return { name: descriptor.name, path: manifest.path, sha256: manifest.sha256, kind: "npm" };
  }
  if (kind === "path") {
    const location = annotation(descriptor, "location");
    if (typeof location !== "string") return undefined;
    return { name: descriptor.name, path: location, sha256: descriptor.digest!.sha256!, kind: annotation(descriptor, "digestOf") === "listing" ? "directory" : "file" };
  }
  if (descriptor.name.startsWith("@")) return undefined;
  return { name: descriptor.name, path: descriptor.name, sha256: descriptor.digest!.sha256!, kind: "file" };
}

/** Each material that differs from the tree, in the statement's order. */
export async function findDrift(checks: readonly MaterialCheck[], digestOf: (check: MaterialCheck) => Promise<string | undefined>): Promise<Drift[]> {
  const drift: Drift[] = [];
  for (const check of checks) {
    const now = await digestOf(check);
    if (now !== check.sha256) drift.push({ name: check.name, path: check.path, recorded: check.sha256, now });
  }
  return drift;
}

/** How one drifted material reads: its name (and path when that differs), both digests. */
export function describeDrift(drift: Drift): string {
  const where = drift.path === drift.name ? "" : ` (${drift.path})`;
  return drift.now === undefined
    ? `${drift.name}${where}: gone (statement sha256 ${drift.recorded})`
    : `${drift.name}${where}\n    statement sha256 ${drift.recorded}\n    on disk   sha256 ${drift.now}`;
}
