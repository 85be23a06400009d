/**
 * WORKSPACE.ts is the pipeline's manifest: its name, version, and every input that lives outside
 * the tree, pinned by content.
 */
export const WORKSPACE_TAG = "kiln.workspace/v1";

export type SourceDeclaration =
  | { kind: "url"; url: string; sha256: string }
  | { kind: "path"; path: string };

export interface WorkspaceDeclaration {
  readonly $kiln: typeof WORKSPACE_TAG;
  name: string;
  version: string;
  sources: Record<string, SourceDeclaration>;
  /** How `cmd` steps are isolated when `--sandbox` is not given (README "Sandboxes"). */
  sandbox?: WorkspaceSandbox;
  /** The local cache's cap ("10G"), trimmed after builds; KILN_CACHE_MAX_SIZE wins over it. */
  cacheMaxSize?: string;
}

/** `strict`: refuse to build without a namespace sandbox; the others as `--sandbox`. */
export type WorkspaceSandbox = "auto" | "strict" | "bwrap" | "unshare" | "dir";

export function workspace(attrs: {
  name: string;
  version?: string;
  sources?: Record<string, SourceDeclaration>;
  sandbox?: WorkspaceSandbox;
  /** The local cache's cap, e.g. "20G" (default 10G); "off" never trims automatically. */
  cacheMaxSize?: string;
}): WorkspaceDeclaration {
  const declaration: WorkspaceDeclaration = { $kiln: WORKSPACE_TAG, name: attrs.name, version: attrs.version ?? "0.0.0", sources: attrs.sources ?? {} };
  if (attrs.sandbox !== undefined) declaration.sandbox = attrs.sandbox;
  if (attrs.cacheMaxSize !== undefined) declaration.cacheMaxSize = attrs.cacheMaxSize;
  return declaration;
}

export const source = {
  /** A file fetched from a URL, pinned by its SHA-256. */
  url(url: string, pin: { sha256: string }): SourceDeclaration {
    return { kind: "url", url, sha256: pin.sha256 };
  },
  /** A file or directory outside the tree (a share, a mount), hashed by content. */
  path(path: string): SourceDeclaration {
    return { kind: "path", path };
  },
};
