/**
 * Step modules are bundled with esbuild (local imports inlined, packages external): workers then
 * load plain JavaScript with no TypeScript loader, and the bundle's inputs define the step's code
 * digest: every local file it imports (by workspace path and content) plus the name and version of
 * every package it imports. Editing a helper imported by train.ts changes train's digest; editing
 * an unrelated file does not.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { canonicalJson } from "./canonical.js";
import { digestBytes, type ContentDigest } from "./digest.js";
import type { StatCache } from "../state/stat-cache.js";
import { writeFileAtomic } from "../state/atomic-file.js";
import { combineProblems, inputError, type KilnError } from "../errors.js";
import { KILN_ROOT } from "../kiln-install.js";
import { externalPackagesPlugin, USER_CODE_BUILD_OPTIONS } from "../workspace/module-resolution.js";

/**
 * Bumped when how a bundle is made or its code digest computed changes: saved step modules of
 * another format are bundled again (kiln's version alone does not move between builds of kiln).
 * 2: code paths relative to the workspace, not to where it sits.
 */
export const STEP_MODULE_FORMAT = 2;

export interface StepModule {
  /** STEP_MODULE_FORMAT when it was made. */
  format: number;
  /** Absolute path of the module's entry file. */
  entry: string;
  /** Absolute path of the bundle the worker imports (content-addressed, under the state dir). */
  bundlePath: string;
  /** Digest of the module's local files and package versions (not of machine paths). */
  codeDigest: string;
  /**
   * Files the bundle was built from (absolute), with their digests, to revalidate it: its local
   * files and the package.json of every package it imports.
   */
  files: [string, ContentDigest][];
}

/** Bundles each entry (absolute paths) in one esbuild call. */
export async function bundleStepModules(
  root: string,
  entries: readonly string[],
  stateDir: string,
  statCache: StatCache,
  ownerOf: (entry: string) => string,
): Promise<Map<string, StepModule>> {
  const modules = new Map<string, StepModule>();
  if (entries.length === 0) return modules;
  const missing = entries.filter((entry) => !existsSync(entry));
  if (missing.length > 0) {
    throw combineProblems(
      missing.map((entry) => inputError(`${ownerOf(entry)}: run module ${displayPath(root, entry)} does not exist`)),
    );
  }
  const outDir = join(stateDir, "steps");
  mkdirSync(outDir, { recursive: true });
  const esbuild = await import("esbuild");
  const entryPoints = Object.fromEntries(entries.map((entry, i) => [`m${i}`, entry]));
  let result: import("esbuild").BuildResult;
  try {
    result = await esbuild.build({
      ...USER_CODE_BUILD_OPTIONS,
      entryPoints,
      // Written beside where esbuild places it, so the inline source map's relative paths hold.
      outdir: outDir,
      outExtension: { ".js": ".mjs" },
      absWorkingDir: root,
      plugins: [externalPackagesPlugin()],
    });
  } catch (error) {
    const messages = (error as { errors?: { text: string; location: { file: string; line: number; column: number } | null }[] }).errors ?? [];
    const problems: KilnError[] = messages.map((m) =>
      inputError(`step module: ${m.text}`, m.location ? { file: m.location.file, line: m.location.line, column: m.location.column + 1 } : undefined),
    );
    throw problems.length > 0 ? combineProblems(problems) : inputError(`bundling step modules failed: ${(error as Error).message}`);
  }

  // Package manifests found by this call. Per call, not per process: a long-lived session (watch)
  // must see a package upgraded between builds.
  const packageCache = new Map<string, PackageIdentity>();
  for (const output of result.outputFiles ?? []) {
    if (!output.path.endsWith(".mjs")) continue;
    const entryName = output.path.slice(output.path.lastIndexOf(sep) + 1, -".mjs".length);
    const entry = entryPoints[entryName]!;
    const meta = result.metafile!.outputs[relative(root, output.path).split(sep).join("/")];
    if (!meta) throw new Error(`esbuild metafile has no output for ${output.path}`);
    const files: [string, ContentDigest][] = [];
    const localInputs: [string, ContentDigest][] = [];
    for (const input of Object.keys(meta.inputs).sort()) {
      const absolute = resolve(root, input);
      const { digest } = await statCache.digest(absolute);
      files.push([absolute, digest]);
      localInputs.push([logicalPath(root, absolute), digest]);
    }
    const imported = meta.imports.filter((i) => i.external).map((i) => packageOf(i.path, packageCache));
    const identities = [...new Set(imported.map((p) => p.identity))].sort();
    // Each package's manifest is revalidated with the local files: a new version re-bundles the
    // step (and so changes its code digest), and the up-to-date stamp watches it too.
    for (const manifest of new Set(imported.flatMap((p) => (p.manifest ? [p.manifest] : [])))) {
      files.push([manifest, (await statCache.digest(manifest)).digest]);
    }
    const codeDigest = digestBytes(canonicalJson({ files: localInputs, packages: identities }));
    const bundlePath = join(outDir, `${digestBytes(output.text).slice(0, 24)}.mjs`);
    // Through a temp name: the name promises these bytes, so a crash or a concurrent kiln must
    // never leave (or read) half of them there.
    if (!existsSync(bundlePath)) writeFileAtomic(bundlePath, output.text);
    modules.set(entry, { format: STEP_MODULE_FORMAT, entry, bundlePath, codeDigest, files });
  }
  return modules;
}

/**
 * A path that is the same on every machine: workspace-relative, or inside kiln's package. The
 * workspace comes first: a workspace inside kiln's own repository (examples/penguins) once got
 * `kiln/examples/...` names, so a copy of it elsewhere (kiln verify's) had other keys.
 */
function logicalPath(root: string, absolute: string): string {
  const inWorkspace = relative(root, absolute);
  if (!inWorkspace.startsWith("..")) return inWorkspace.split(sep).join("/");
  const inKiln = relative(KILN_ROOT, absolute);
  if (!inKiln.startsWith("..")) return `kiln/${inKiln.split(sep).join("/")}`;
  return relative(root, absolute).split(sep).join("/");
}

function displayPath(root: string, absolute: string): string {
  const rel = relative(root, absolute);
  return rel.startsWith("..") ? absolute : rel;
}

interface PackageIdentity {
  identity: string;
  manifest?: string;
}

/** `name@version` of the package holding `path` and its package.json; builtins as themselves. */
function packageOf(path: string, packageCache: Map<string, PackageIdentity>): PackageIdentity {
  if (!path.startsWith("/")) return { identity: path.startsWith("node:") ? path : `node:${path}` };
  let dir = dirname(path);
  while (dir !== dirname(dir)) {
    const cached = packageCache.get(dir);
    if (cached) return cached;
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      const parsed = JSON.parse(readFileSync(manifest, "utf8")) as { name?: string; version?: string };
      if (parsed.name) {
        const found = { identity: `${parsed.name}@${parsed.version ?? "0.0.0"}`, manifest };
        packageCache.set(dir, found);
        return found;
      }
    }
    dir = dirname(dir);
  }
  return { identity: "unknown-package" };
}
