/**
 * `kiln release <label> --version X.Y.Z [--out dist/]`: the target built (from the cache when it
 * can be), then `<out>/<workspace>-<target>-<version>/` and a .tar.gz of the same files: the
 * outputs at their kiln-out paths, provenance.json, kiln.lock and release.json. The statement is
 * made without run times, and the archive deterministically, so making the same release twice
 * (in another directory) gives the same bytes. A release is never overwritten.
 * `--list` shows the releases in <out>; `--diff A B` what differs between two of them.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative, resolve } from "node:path";
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { writeReleasePin } from "../cache/gc/release-pins.js";
import { inputError } from "../errors.js";
import type { SandboxChoice } from "../exec/namespace-sandbox.js";
import { outputDir } from "../graph/action-graph.js";
import { LOCK_FILE } from "../lock/lockfile.js";
import type { Statement } from "../lock/provenance.js";
import { diffStatements } from "../lock/release-diff.js";
import { diffMetrics } from "../lock/metrics-diff.js";
import type { Json } from "../api/action-spec.js";
import { deterministicTarGz, type TarEntry } from "../lock/tar.js";
import { WorkspaceSession } from "../session/workspace-session.js";
import { parseLabel } from "../workspace/label.js";
import { digestBytes } from "../key/digest.js";
import { readSigningKey, signEnvelope } from "../lock/dsse.js";
import type { KeyObject } from "node:crypto";
import { formatStatement, readKeyFile, statementFor } from "./provenance-command.js";
import { currentPackage, parsePatterns } from "./up-to-date.js";

export const RELEASE_MANIFEST = "release.json";
export const PROVENANCE_FILE = "provenance.json";
/** With `--sign`: the same statement in a DSSE envelope, beside the plain one (which diff and why --since read). */
export const SIGNED_PROVENANCE_FILE = "provenance.dsse.json";
/** Beside the archive: a statement whose subject is the .tar.gz itself (`.dsse.json` too with --sign). */
export const ARCHIVE_STATEMENT_SUFFIX = ".provenance.json";
export const SIGNED_ARCHIVE_STATEMENT_SUFFIX = ".provenance.dsse.json";

export interface ReleaseManifest {
  format: "kiln.release/1";
  /** `<workspace>-<target>-<version>`: the directory's and the archive's name. */
  name: string;
  version: string;
  workspace: { name: string; version: string };
  label: string;
  /** The key of the action that made the outputs. */
  key: string;
  outputs: { path: string; sha256: string; size: number }[];
  /** The outputs the target declares as metrics (`metrics` on the step), by path: `--diff` compares them. */
  metrics?: string[];
}

interface ReleaseOptions {
  workspace?: string;
  cacheDir?: string;
  version?: string;
  out?: string;
  list?: boolean;
  diff?: string[];
  sandbox?: SandboxChoice;
  sign?: string;
}

const VERSION = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/;

function releasesDir(session: WorkspaceSession, out: string | undefined): string {
  return out ? resolve(out) : join(session.root, "dist");
}

/** Every release in `dir`, by name. */
export function listReleases(dir: string): { dir: string; manifest: ReleaseManifest }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, RELEASE_MANIFEST)))
    .map((e) => ({ dir: join(dir, e.name), manifest: JSON.parse(readFileSync(join(dir, e.name, RELEASE_MANIFEST), "utf8")) as ReleaseManifest }))
    .sort((a, b) => (a.manifest.name < b.manifest.name ? -1 : 1));
}

/** A release named by its version (when only one target has that version), or by its full name. */
export function findRelease(dir: string, which: string, label?: string): { dir: string; manifest: ReleaseManifest } {
  const all = listReleases(dir);
  const matches = all.filter((r) => (r.manifest.name === which || r.manifest.version === which) && (!label || r.manifest.label === label));
  if (matches.length === 1) return matches[0]!;
  const known = all.map((r) => `${r.manifest.name} (${r.manifest.label})`).join(", ") || "none";
  throw inputError(
    matches.length === 0
      ? `no release "${which}"${label ? ` of ${label}` : ""} in ${dir} (releases there: ${known})`
      : `"${which}" names ${matches.length} releases in ${dir}; use the full name: ${matches.map((r) => r.manifest.name).join(", ")}`,
  );
}

/** A metrics file of a release, parsed; undefined when it is not there or not JSON. */
export function readReleaseMetrics(release: { dir: string }, path: string): Json | undefined {
  try {
    return JSON.parse(readFileSync(join(release.dir, path), "utf8")) as Json;
  } catch {
    return undefined;
  }
}

/** The metrics lines of `--diff`: each metrics file either release declares, compared leaf by leaf. */
function releaseMetricsDiff(before: { dir: string; manifest: ReleaseManifest }, after: { dir: string; manifest: ReleaseManifest }): string[] {
  const files = [...new Set([...(before.manifest.metrics ?? []), ...(after.manifest.metrics ?? [])])].sort();
  const lines = files.flatMap((file) => diffMetrics(file, readReleaseMetrics(before, file), readReleaseMetrics(after, file)));
  return files.length > 0 && lines.length === 0 ? [`metrics: the same (${files.join(", ")})`] : lines;
}

function envelopeText(statement: Statement, key: KeyObject): string {
  return `${JSON.stringify(signEnvelope(Buffer.from(formatStatement(statement)), key), null, 2)}\n`;
}

export function readReleaseStatement(release: { dir: string }): Statement {
  return JSON.parse(readFileSync(join(release.dir, PROVENANCE_FILE), "utf8")) as Statement;
}

export async function runReleaseCommand(labelText: string | undefined, options: ReleaseOptions): Promise<number> {
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const dir = releasesDir(session, options.out);
  if (options.list) {
    const releases = listReleases(dir);
    if (releases.length === 0) process.stdout.write(`no releases in ${relative(process.cwd(), dir) || "."}\n`);
    for (const { manifest } of releases) {
      process.stdout.write(`${manifest.name}  ${manifest.label}  version ${manifest.version}  key ${manifest.key.slice(0, 12)}  ${manifest.outputs.map((o) => `${o.path.split("/").pop()} ${o.sha256.slice(0, 12)}`).join(", ")}\n`);
    }
    return 0;
  }
  if (options.diff) {
    const [a, b] = options.diff;
    if (!a || !b) throw inputError("kiln release --diff takes two releases: --diff 1.0.0 1.1.0");
    const before = findRelease(dir, a);
    const after = findRelease(dir, b);
    const lines = diffStatements(readReleaseStatement(before), readReleaseStatement(after));
    const metrics = releaseMetricsDiff(before, after);
    process.stdout.write(`${before.manifest.name} -> ${after.manifest.name}:\n`);
    process.stdout.write(lines.length > 0 ? `${lines.map((l) => `  ${l}`).join("\n")}\n` : "  the same build: no input, param or code differs\n");
    if (metrics.length > 0) process.stdout.write(`${metrics.map((l) => `  ${l}`).join("\n")}\n`);
    return 0;
  }

  if (!labelText) throw inputError("kiln release takes a label: kiln release //models:classifier --version 1.0.0 (or --list, or --diff A B)");
  if (!options.version || !VERSION.test(options.version)) {
    throw inputError(`kiln release needs --version X.Y.Z (semantic versioning), not ${options.version ? `"${options.version}"` : "nothing"}`);
  }
  const [pattern] = parsePatterns([labelText], currentPackage(session.root, process.cwd()));
  if (pattern?.kind !== "label") throw inputError(`kiln release takes one label (//pkg:name), not the pattern ${labelText}`);
  const label = pattern.label;
  const { pkg, name: target } = parseLabel(label);
  const { manifest: workspace, graph } = await session.load([pattern]);
  const name = `${workspace.name}-${target}-${options.version}`;
  const final = join(dir, name);
  const archive = `${final}.tar.gz`;
  const archiveStatement = `${archive}${ARCHIVE_STATEMENT_SUFFIX}`;
  const signedArchiveStatement = `${archive}${SIGNED_ARCHIVE_STATEMENT_SUFFIX}`;
  // Read the key before building: a wrong key file is the request's fault (exit 2), found at once.
  const signingKey = options.sign ? readSigningKey(readKeyFile(options.sign), options.sign) : undefined;
  for (const path of [final, archive, archiveStatement, signedArchiveStatement]) {
    if (existsSync(path)) throw inputError(`release ${name} already exists (${relative(process.cwd(), path)}); a release is never overwritten: choose another --version`);
  }

  const cacheDir = options.cacheDir ?? defaultCacheDir(process.env);
  const build = await session.build(
    {
      mode: "build",
      patterns: [pattern],
      jobs: availableParallelism(),
      keepGoing: false,
      readCache: true,
      explain: false,
      cacheDir,
      sandbox: options.sandbox ?? "auto",
      hostEnv: process.env,
      reporter: (event) => {
        if (event.type === "warning") process.stderr.write(`kiln: warning: ${event.message}\n`);
        if (event.type === "failure") process.stderr.write(`kiln: FAILED ${event.label}: ${event.message}\n`);
      },
    },
    new AbortController().signal,
  );
  if (build.failed.length > 0) return build.environmentFaults.length > 0 ? 2 : 1;

  const store = await LocalStore.open(cacheDir, session.statCache);
  let statement: Statement;
  try {
    statement = await statementFor(session, store, label, false);
  } finally {
    await store.close();
  }
  const last = session.lastResults.get(label)!;
  const outDir = outputDir(pkg, target);
  const files: TarEntry[] = [];
  for (const output of last.outputs) files.push({ path: `${outDir}/${output.name}`, content: readFileSync(join(session.root, outDir, output.name)) });
  const manifest: ReleaseManifest = {
    format: "kiln.release/1",
    name,
    version: options.version,
    workspace: { name: workspace.name, version: workspace.version },
    label,
    key: last.key,
    outputs: last.outputs.map((o) => ({ path: `${outDir}/${o.name}`, sha256: o.digest, size: o.size })),
    ...(graph.targets.get(label)?.spec.metrics ? { metrics: graph.targets.get(label)!.spec.metrics!.map((m) => `${outDir}/${m}`) } : {}),
  };
  files.push({ path: RELEASE_MANIFEST, content: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`) });
  files.push({ path: PROVENANCE_FILE, content: Buffer.from(formatStatement(statement)) });
  if (signingKey) files.push({ path: SIGNED_PROVENANCE_FILE, content: Buffer.from(envelopeText(statement, signingKey)) });
  if (existsSync(join(session.root, LOCK_FILE))) files.push({ path: LOCK_FILE, content: readFileSync(join(session.root, LOCK_FILE)) });

  // Pinned in the cache first: gc keeps every step the release's provenance walks, its outputs,
  // and the @source snapshots and downloads it read (their digests are among its dependencies).
  const sha256s = (descriptors: readonly { digest?: { sha256?: string } }[]) => descriptors.flatMap((d) => (d.digest?.sha256 ? [d.digest.sha256] : []));
  writeReleasePin(cacheDir, {
    release: name,
    // Every step the statement walks (internalParameters.steps), and its logs (the byproducts).
    keys: ((statement.predicate.buildDefinition.internalParameters.steps ?? []) as unknown as { key: string }[]).map((step) => step.key),
    blobs: [
      ...manifest.outputs.map((o) => o.sha256),
      ...sha256s(statement.predicate.buildDefinition.resolvedDependencies),
      ...sha256s(statement.predicate.runDetails.byproducts),
    ],
  });

  // Written under a temp name and renamed: a release is whole or absent.
  mkdirSync(dir, { recursive: true });
  const temp = join(dir, `.${name}.tmp-${process.pid}`);
  rmSync(temp, { recursive: true, force: true });
  for (const file of files) {
    mkdirSync(join(temp, file.path, ".."), { recursive: true });
    writeFileSync(join(temp, file.path), file.content!);
  }
  const directories = new Set<string>();
  for (const file of files) for (let d = file.path.lastIndexOf("/"); d > 0; d = file.path.lastIndexOf("/", d - 1)) directories.add(`${name}/${file.path.slice(0, d)}/`);
  const tarEntries: TarEntry[] = [{ path: `${name}/` }, ...[...directories].map((path) => ({ path })), ...files.map((f) => ({ path: `${name}/${f.path}`, content: f.content }))];
  const tarGz = deterministicTarGz(tarEntries);
  writeFileSync(`${temp}.tar.gz`, tarGz);
  // The archive as a subject: a consumer checks the download before unpacking anything.
  const ofArchive: Statement = { ...statement, subject: [{ name: `${name}.tar.gz`, digest: { sha256: digestBytes(tarGz) } }] };
  writeFileSync(`${temp}.tar.gz${ARCHIVE_STATEMENT_SUFFIX}`, formatStatement(ofArchive));
  if (signingKey) writeFileSync(`${temp}.tar.gz${SIGNED_ARCHIVE_STATEMENT_SUFFIX}`, envelopeText(ofArchive, signingKey));
  renameSync(temp, final);
  renameSync(`${temp}.tar.gz`, archive);
  renameSync(`${temp}.tar.gz${ARCHIVE_STATEMENT_SUFFIX}`, archiveStatement);
  if (signingKey) renameSync(`${temp}.tar.gz${SIGNED_ARCHIVE_STATEMENT_SUFFIX}`, signedArchiveStatement);
  process.stdout.write(`release ${name}: ${relative(process.cwd(), final)}/ and ${relative(process.cwd(), archive)}\n`);
  process.stdout.write(`  provenance of the archive: ${relative(process.cwd(), signingKey ? signedArchiveStatement : archiveStatement)}${signingKey ? " (signed)" : ""}\n`);
  for (const output of manifest.outputs) process.stdout.write(`  ${output.path}  sha256 ${output.sha256}\n`);
  return 0;
}
