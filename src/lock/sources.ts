/**
 * Sources declared in WORKSPACE.ts, made into files a build can read: a `source.url` fetched once
 * into the blob store and verified against its sha256; a `source.path` (a file or a directory)
 * hashed where it lives, or, once `kiln lock` has frozen it, read from its snapshot in the store.
 * Invariants: a download is used only after its whole content matched its pin (a partial or wrong
 * download never reaches a sandbox); a snapshot is in the store before kiln.lock names it.
 * A source's files appear in a sandbox under `external/<name>/`.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, isAbsolute, join, posix, resolve } from "node:path";
import type { SourceDeclaration } from "../api/workspace.js";
import type { LocalStore } from "../cache/local-store.js";
import { inputError, KilnError } from "../errors.js";
import { digestBytes, type ContentDigest } from "../key/digest.js";
import { digestFile } from "../key/file-digest.js";
import type { StatCache } from "../state/stat-cache.js";
import { fetchToFile } from "./fetch.js";
import type { LockEntry } from "./lockfile.js";

/** Where sources appear in a sandbox: `external/<name>/<file>`. */
export const EXTERNAL_DIR = "external";

/** One file of a source, as a build reads it. */
export interface SourceFile {
  /** Path in the sandbox (and in action keys): `external/<name>/<relative path>`. */
  path: string;
  /** Absolute path the bytes are read from: the live file, or a blob of the store. */
  from: string;
  digest: ContentDigest;
  size: number;
}

export interface ResolvedSource {
  name: string;
  /** What kiln.lock says of it (the content this build reads). */
  entry: LockEntry;
  files: SourceFile[];
  /** True when the files come from the snapshot `kiln lock` took, not from the live path. */
  fromSnapshot: boolean;
}

/** A directory source's listing, stored as a blob: its digest is the source's digest. */
interface TreeManifest {
  format: "kiln.tree/1";
  /** (path relative to the source directory, sha256, size), sorted by path. */
  files: [string, string, number][];
}

function treeManifestText(files: readonly SourceFile[], name: string): string {
  const prefix = `${EXTERNAL_DIR}/${name}/`;
  const manifest: TreeManifest = {
    format: "kiln.tree/1",
    files: files.map((f) => [f.path.slice(prefix.length), f.digest, f.size] as [string, string, number]),
  };
  return JSON.stringify(manifest);
}

/** The file name a single-file source gets in the sandbox: its own (or the URL's last segment). */
export function singleFileName(declared: SourceDeclaration): string {
  if (declared.kind === "path") return basename(declared.path) || "file";
  let last = "";
  try {
    last = decodeURIComponent(new URL(declared.url).pathname.split("/").pop() ?? "");
  } catch {
    // checked when WORKSPACE.ts loaded
  }
  const clean = last.replace(/[^A-Za-z0-9_.-]/g, "_");
  return clean === "" || clean === "." || clean === ".." ? "download" : clean;
}

/** Where a declared source is: the URL, or the path as written (relative to the workspace root). */
export function locationOf(declared: SourceDeclaration): string {
  return declared.kind === "url" ? declared.url : declared.path;
}

function absolutePathOf(root: string, declared: SourceDeclaration & { kind: "path" }): string {
  return isAbsolute(declared.path) ? declared.path : resolve(root, declared.path);
}

/** Every regular file under `dir` (following symlinks), as sorted POSIX relative paths. */
function listTree(dir: string, prefix = ""): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    const stats = statSync(join(dir, relative));
    if (stats.isDirectory()) files.push(...listTree(dir, relative));
    else if (stats.isFile()) files.push(relative);
  }
  return files.sort();
}

/**
 * A path source as it is now: each file hashed (memoised by the stat cache), a directory's digest
 * being that of its listing. Throws an input error naming the path when it is missing.
 */
export async function hashPathSource(root: string, name: string, declared: SourceDeclaration & { kind: "path" }, statCache: StatCache): Promise<ResolvedSource> {
  const path = absolutePathOf(root, declared);
  let stats;
  try {
    stats = statSync(path);
  } catch {
    throw inputError(`source @${name}: ${declared.path} does not exist (source.path in WORKSPACE.ts; resolved to ${path})`);
  }
  if (stats.isFile()) {
    const { digest, size } = await statCache.digest(path);
    const file = { path: `${EXTERNAL_DIR}/${name}/${singleFileName(declared)}`, from: path, digest, size };
    return { name, entry: { kind: "path", location: declared.path, sha256: digest, size }, files: [file], fromSnapshot: false };
  }
  if (!stats.isDirectory()) throw inputError(`source @${name}: ${declared.path} is neither a file nor a directory`);
  const files: SourceFile[] = [];
  for (const relative of listTree(path)) {
    const from = join(path, relative);
    const { digest, size } = await statCache.digest(from);
    files.push({ path: `${EXTERNAL_DIR}/${name}/${relative}`, from, digest, size });
  }
  const size = files.reduce((sum, f) => sum + f.size, 0);
  const sha256 = digestBytes(treeManifestText(files, name));
  return { name, entry: { kind: "path", location: declared.path, sha256, size, files: files.length }, files, fromSnapshot: false };
}

/**
 * Freezes a path source into the store (`kiln lock`): every file copied in as a blob (verified
 * after the copy: a file changing under kiln fails the lock), and a directory's listing as a blob.
 */
export async function snapshotSource(store: LocalStore, source: ResolvedSource): Promise<void> {
  const downloads = join(store.dir, "downloads");
  mkdirSync(downloads, { recursive: true });
  for (const file of source.files) {
    if (await store.hasValidBlob(file.digest)) continue;
    const temp = join(downloads, `snapshot-${process.pid}-${file.digest}`);
    copyFileSync(file.from, temp);
    const copied = await digestFile(temp);
    if (copied.digest !== file.digest) {
      rmSync(temp, { force: true });
      throw inputError(`source @${source.name}: ${file.from} changed while kiln lock copied it; run kiln lock again`);
    }
    store.insertBlob(temp, file.digest);
    rmSync(temp, { force: true });
  }
  if (source.entry.files !== undefined) {
    const text = treeManifestText(source.files, source.name);
    const temp = join(downloads, `tree-${process.pid}-${source.entry.sha256}`);
    writeFileSync(temp, text);
    store.insertBlob(temp, digestBytes(text));
    rmSync(temp, { force: true });
  }
}

/** The snapshot of a locked path source, when the store holds all of it. */
export async function readSnapshot(store: LocalStore, name: string, declared: SourceDeclaration, entry: LockEntry): Promise<ResolvedSource | undefined> {
  if (entry.files === undefined) {
    if (!(await store.hasValidBlob(entry.sha256 as ContentDigest))) return undefined;
    const file = { path: `${EXTERNAL_DIR}/${name}/${singleFileName(declared)}`, from: store.blobPath(entry.sha256 as ContentDigest), digest: entry.sha256 as ContentDigest, size: entry.size };
    return { name, entry, files: [file], fromSnapshot: true };
  }
  if (!(await store.hasValidBlob(entry.sha256 as ContentDigest))) return undefined;
  const manifest = JSON.parse(readFileSync(store.blobPath(entry.sha256 as ContentDigest), "utf8")) as TreeManifest;
  const files: SourceFile[] = [];
  for (const [relative, digest, size] of manifest.files) {
    if (!(await store.hasValidBlob(digest as ContentDigest))) return undefined;
    files.push({ path: `${EXTERNAL_DIR}/${name}/${relative}`, from: store.blobPath(digest as ContentDigest), digest: digest as ContentDigest, size });
  }
  return { name, entry, files, fromSnapshot: true };
}

/**
 * A url source: its blob in the store, fetched first if missing (retried, resumed, verified).
 * `warn` reports retries. A download that does not match the pin is an input error with both digests.
 */
export async function resolveUrlSource(
  store: LocalStore,
  name: string,
  declared: SourceDeclaration & { kind: "url" },
  warn: (message: string) => void,
): Promise<ResolvedSource> {
  const digest = declared.sha256 as ContentDigest;
  if (!(await store.hasValidBlob(digest))) {
    const downloads = join(store.dir, "downloads");
    mkdirSync(downloads, { recursive: true });
    // Named by the pin, so a later run resumes a download an earlier one could not finish.
    const part = join(downloads, `${digest}.part`);
    try {
      await fetchToFile(declared.url, part, warn);
    } catch (error) {
      throw new KilnError("input", `source @${name}: could not download ${declared.url}: ${(error as Error).message}`);
    }
    const got = await digestFile(part);
    if (got.digest !== digest) {
      rmSync(part, { force: true });
      throw inputError(
        `source @${name}: ${declared.url} does not match its pin:\n    expected sha256 ${digest} (WORKSPACE.ts)\n    got      sha256 ${got.digest} (${got.size} bytes)\n` +
          `  If the new content is intended, put the new sha256 in WORKSPACE.ts and run kiln lock.`,
      );
    }
    store.insertBlob(part, digest);
    rmSync(part, { force: true });
  }
  const from = store.blobPath(digest);
  const size = statSync(from).size;
  const file = { path: `${EXTERNAL_DIR}/${name}/${singleFileName(declared)}`, from, digest, size };
  return { name, entry: { kind: "url", location: declared.url, sha256: digest, size }, files: [file], fromSnapshot: false };
}

/** True when `path` (absolute) exists: for recording live source files in the up-to-date stamp. */
export function liveFilesOf(root: string, declared: SourceDeclaration): { files: string[]; directories: string[] } {
  if (declared.kind !== "path") return { files: [], directories: [] };
  const path = absolutePathOf(root, declared);
  if (!existsSync(path)) return { files: [path], directories: [] };
  if (!statSync(path).isDirectory()) return { files: [path], directories: [] };
  const files = listTree(path).map((relative) => join(path, relative));
  const directories = new Set<string>([path]);
  for (const file of files) {
    for (let dir = posix.dirname(file); dir.startsWith(path) && dir !== path; dir = posix.dirname(dir)) directories.add(dir);
  }
  return { files, directories: [...directories] };
}
