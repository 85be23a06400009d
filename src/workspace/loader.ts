/**
 * Evaluating WORKSPACE.ts and BUILD.ts files. A set of packages is bundled by esbuild in one call
 * (one bundle, one import: the measured fastest way to load many small TypeScript files) and the
 * exported target declarations are validated with their rules' zod schemas. Every problem of a
 * load is reported, each with file:line and the label.
 * The metafile tells which files the evaluation read: the graph cache and watch mode use that set.
 */
import { parseCacheCap } from "../byte-size.js";
import { mkdirSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../state/atomic-file.js";
import { join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import type { z } from "zod";
import type { ActionSpec } from "../api/action-spec.js";
import { isTargetDeclaration } from "../api/rule.js";
import { WORKSPACE_TAG, type WorkspaceDeclaration } from "../api/workspace.js";
import { combineProblems, inputError, KilnError, type SourceLocation } from "../errors.js";
import { digestBytes } from "../key/digest.js";
import { formatLabel, validateTargetName } from "./label.js";
import { externalPackagesPlugin, USER_CODE_BUILD_OPTIONS } from "./module-resolution.js";
import { BUILD_FILE, WORKSPACE_FILE } from "./root.js";

export interface LoadedTarget {
  label: string;
  pkg: string;
  name: string;
  spec: ActionSpec;
  /** Where the target is declared, for errors that point at it. */
  location: SourceLocation;
}

export interface WorkspaceManifest {
  name: string;
  version: string;
  sources: WorkspaceDeclaration["sources"];
  sandbox?: WorkspaceDeclaration["sandbox"];
  /** The local cache's cap in bytes from `cacheMaxSize` (null: "off"). */
  cacheMaxBytes?: number | null;
}

export interface LoadResult {
  manifest?: WorkspaceManifest;
  targets: LoadedTarget[];
  /** Files the evaluation read: workspace-relative for files in the tree, absolute otherwise. */
  filesRead: string[];
}

/** The name esbuild gives the generated entry that imports every BUILD.ts of a load. */
const LOAD_ENTRY = "kiln-load-entry.ts";

function buildFileOf(pkg: string): string {
  return pkg === "" ? BUILD_FILE : `${pkg}/${BUILD_FILE}`;
}

/**
 * Loads the BUILD.ts of each package in `packages` (and WORKSPACE.ts when `withManifest`).
 * Throws a KilnError of kind "input" listing every problem found.
 */
export async function loadPackages(
  root: string,
  packages: readonly string[],
  withManifest: boolean,
  stateDir: string,
): Promise<LoadResult> {
  const entryLines: string[] = [];
  if (withManifest) entryLines.push(`export * as ws from ${JSON.stringify(`./${WORKSPACE_FILE}`)};`);
  packages.forEach((pkg, i) => entryLines.push(`export * as p${i} from ${JSON.stringify(`./${buildFileOf(pkg)}`)};`));

  const loadDir = join(stateDir, "load");
  mkdirSync(loadDir, { recursive: true });
  const esbuild = await import("esbuild");
  let bundle: { text: string; metafile: import("esbuild").Metafile };
  try {
    const result = await esbuild.build({
      ...USER_CODE_BUILD_OPTIONS,
      stdin: { contents: entryLines.join("\n"), resolveDir: root, sourcefile: LOAD_ENTRY, loader: "ts" },
      absWorkingDir: root,
      outfile: join(loadDir, "bundle.mjs"),
      plugins: [externalPackagesPlugin()],
    });
    bundle = { text: result.outputFiles![0]!.text, metafile: result.metafile! };
  } catch (error) {
    throw bundleFailure(error);
  }

  const filesRead = Object.keys(bundle.metafile.inputs)
    .filter((file) => file !== LOAD_ENTRY && !file.startsWith("<"))
    .map((file) => normalizeReadPath(root, file))
    .sort();

  const bundlePath = join(loadDir, `${digestBytes(bundle.text).slice(0, 16)}.mjs`);
  // Through a temp name: a concurrent kiln importing this very file (same name, same bytes) must
  // never read it half-written, which it once did and reported a WORKSPACE.ts with no workspace.
  writeFileAtomic(bundlePath, bundle.text);
  process.setSourceMapsEnabled(true);
  let namespace: Record<string, Record<string, unknown>>;
  try {
    namespace = (await import(pathToFileURL(bundlePath).href)) as typeof namespace;
  } catch (error) {
    throw evaluationFailure(root, error);
  }

  const problems: KilnError[] = [];
  const targets: LoadedTarget[] = [];
  packages.forEach((pkg, i) => {
    const file = buildFileOf(pkg);
    const exports = namespace[`p${i}`] ?? {};
    const lines = exportLines(readFileSync(join(root, file), "utf8"));
    const lineOf = (name: string) => lines.get(name) ?? lines.get(EXPORT_STAR) ?? 1;
    // In the file's order, so the problems of a load read top to bottom.
    const names = Object.keys(exports).sort((a, b) => lineOf(a) - lineOf(b) || (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const value = exports[name];
      const location = { file, line: lineOf(name) };
      const notTarget = exportProblem(pkg, name, value);
      if (notTarget !== undefined) {
        if (notTarget !== "") problems.push(inputError(notTarget, location));
        continue;
      }
      if (!isTargetDeclaration(value)) continue;
      const badName = validateTargetName(name);
      if (badName) {
        problems.push(inputError(`//${pkg}: export "${name}" cannot be a target name: ${badName}`, location));
        continue;
      }
      const label = formatLabel({ pkg, name });
      const parsed = (value.schema as z.ZodType).safeParse(value.attrs);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          const path = issue.path.map(String).join(".");
          problems.push(
            inputError(`${label}: ${value.rule}: ${path ? `attribute "${path}": ` : ""}${issue.message}`, location, label),
          );
        }
        continue;
      }
      try {
        targets.push({ label, pkg, name, spec: value.lower(parsed.data), location });
      } catch (error) {
        problems.push(inputError(`${label}: ${value.rule}: ${(error as Error).message}`, location, label));
      }
    }
  });

  let manifest: WorkspaceManifest | undefined;
  if (withManifest) {
    const declared = namespace.ws?.default as WorkspaceDeclaration | undefined;
    if (!declared || declared.$kiln !== WORKSPACE_TAG) {
      problems.push(
        inputError(
          `${WORKSPACE_FILE} must \`export default workspace({ name: "..." })\` (import { workspace } from "kiln")`,
          { file: WORKSPACE_FILE, line: 1 },
        ),
      );
    } else {
      const sourceProblems = checkSources(declared.sources);
      for (const problem of sourceProblems) problems.push(inputError(problem, { file: WORKSPACE_FILE, line: 1 }));
      manifest = { name: declared.name, version: declared.version, sources: declared.sources };
      if (declared.sandbox !== undefined) {
        if (!WORKSPACE_SANDBOXES.includes(declared.sandbox)) {
          problems.push(inputError(`${WORKSPACE_FILE}: sandbox must be one of ${WORKSPACE_SANDBOXES.map((s) => `"${s}"`).join(", ")}, not ${JSON.stringify(declared.sandbox)}`, { file: WORKSPACE_FILE, line: 1 }));
        } else manifest.sandbox = declared.sandbox;
      }
      if (declared.cacheMaxSize !== undefined) {
        const cap = parseCacheCap(declared.cacheMaxSize);
        if (cap === undefined) problems.push(inputError(`${WORKSPACE_FILE}: cacheMaxSize must be a size such as "10G" or "500M", or "off", not ${JSON.stringify(declared.cacheMaxSize)}`, { file: WORKSPACE_FILE, line: 1 }));
        else manifest.cacheMaxBytes = cap;
      }
    }
  }
  if (problems.length > 0) throw combineProblems(problems);
  return { manifest, targets, filesRead };
}

const WORKSPACE_SANDBOXES: readonly string[] = ["auto", "strict", "bwrap", "unshare", "dir"];

/** A source name is what follows `@` in srcs and names a directory in a sandbox (`external/<name>/`). */
const SOURCE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** What is wrong with the declared sources, one message each. */
export function checkSources(sources: WorkspaceDeclaration["sources"]): string[] {
  const problems: string[] = [];
  for (const [name, declared] of Object.entries(sources).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!SOURCE_NAME.test(name)) {
      problems.push(`source "${name}": a source name is letters, digits, "_", "." and "-" (it becomes @${name} and the directory external/${name}/)`);
    }
    if (declared?.kind === "url") {
      let protocol = "";
      try {
        protocol = new URL(declared.url).protocol;
      } catch {
        // reported below
      }
      if (protocol !== "http:" && protocol !== "https:") problems.push(`source "${name}": "${declared.url}" is not an http:// or https:// URL`);
      if (!/^[0-9a-f]{64}$/.test(declared.sha256 ?? "")) {
        problems.push(`source "${name}": sha256 must be 64 lowercase hex digits, not "${declared.sha256}" (run sha256sum on the file to get it)`);
      }
    } else if (declared?.kind === "path") {
      if (typeof declared.path !== "string" || declared.path.length === 0) problems.push(`source "${name}": source.path needs a path`);
    } else {
      problems.push(`source "${name}": declare it with source.url(url, { sha256 }) or source.path(path) (import { source } from "kiln")`);
    }
  }
  return problems;
}

/**
 * Why the export `name` of a BUILD.ts is not allowed, "" when it is skipped silently (a helper),
 * or undefined when it is a target to validate. Every export of a BUILD.ts is a target, except
 * those whose name starts with "_" (helpers, as Starlark treats `_name` as private): an
 * `export const x = 42` a user believes declares something must not vanish in silence. A
 * default export has no name to be a target's, so it is refused whatever it holds.
 */
function exportProblem(pkg: string, name: string, value: unknown): string | undefined {
  const file = buildFileOf(pkg);
  if (name === "default") {
    const what = isTargetDeclaration(value) ? `a ${value.rule} target` : describeValue(value);
    return (
      `//${pkg}: ${file} has a default export (${what}); a target is named by its export, so write ` +
      `\`export const <name> = ...\` (a helper that is not a target: \`export const _<name> = ...\`, or do not export it)`
    );
  }
  if (isTargetDeclaration(value)) return undefined;
  if (name.startsWith("_")) return "";
  return (
    `//${pkg}: export "${name}" is not a target (it is ${describeValue(value)}); every export of a BUILD.ts ` +
    `must be a target (made by step, cmd, files, test, dataset or a defineRule rule); ` +
    `mark a helper with a leading underscore (_${name}) or do not export it`
  );
}

/** What a non-target export holds, in a few words: "the number 42", "a function", "an array". */
function describeValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case "number":
    case "boolean":
    case "bigint":
      return `the ${typeof value} ${String(value)}`;
    case "string":
      return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)}`;
    case "function":
      return /^class[\s{]/.test(Function.prototype.toString.call(value)) ? "a class" : "a function";
    case "symbol":
      return "a symbol";
    default:
      return "an object";
  }
}

/** The key under which exportLines records the first `export * from`: where a name not declared in the file came from. */
export const EXPORT_STAR = "*";

/**
 * The line of each name a BUILD.ts exports: `export const|let|var|function|class|enum name`,
 * each name of `export { a, b as c }` (and `export { ... } from`), `export * as ns from`, and
 * `export default` (as "default"). The first `export * from` is recorded under EXPORT_STAR: the
 * names it brings in are not in this file, so errors about them point there. Lines are found by
 * a binary search over line starts (a search per target from the top of the file cost ~30 us a
 * target, quadratic in a package's size). Names missing here are reported at line 1.
 */
export function exportLines(source: string): Map<string, number> {
  const lines = new Map<string, number>();
  const starts = [0];
  for (let at = source.indexOf("\n"); at !== -1; at = source.indexOf("\n", at + 1)) starts.push(at + 1);
  const lineAt = (offset: number) => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (starts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return low + 1;
  };
  const record = (name: string, offset: number) => {
    if (!lines.has(name)) lines.set(name, lineAt(offset));
  };
  const statement =
    /^[ \t]*export[ \t]+(?:(?:const|let|var|function\*?|async[ \t]+function\*?|class|enum|const[ \t]+enum)[ \t]+([A-Za-z_$][\w$]*)|(default)\b|\*[ \t]+as[ \t]+([A-Za-z_$][\w$]*)|(\*)|\{([^}]*)\})/gm;
  for (let match = statement.exec(source); match; match = statement.exec(source)) {
    const [, declared, isDefault, namespace, star, list] = match;
    if (declared !== undefined) record(declared, match.index);
    else if (isDefault !== undefined) record("default", match.index);
    else if (namespace !== undefined) record(namespace, match.index);
    else if (star !== undefined) record(EXPORT_STAR, match.index);
    else if (list !== undefined) {
      // `a`, `a as b`, `type T`: the exported name is the last word of each item.
      const listStart = match.index + match[0].indexOf("{") + 1;
      const item = /([^,]+)/g;
      for (let part = item.exec(list); part; part = item.exec(list)) {
        const words = part[1]!.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, " ").trim().split(/\s+/);
        const name = words.at(-1);
        if (!name || !/^[A-Za-z_$][\w$]*$/.test(name) || words[0] === "type") continue;
        const nameOffset = listStart + part.index + part[1]!.lastIndexOf(name);
        record(name, nameOffset);
      }
    }
  }
  return lines;
}

function normalizeReadPath(root: string, file: string): string {
  const absolute = resolve(root, file);
  const rel = relative(root, absolute);
  return rel.startsWith("..") || rel.startsWith(sep) ? absolute : rel.split(sep).join("/");
}

interface EsbuildMessage {
  text: string;
  location: { file: string; line: number; column: number; lineText: string } | null;
}

function bundleFailure(error: unknown): KilnError {
  const messages = (error as { errors?: EsbuildMessage[] }).errors;
  if (!messages || messages.length === 0) return inputError(`loading BUILD files failed: ${(error as Error).message}`);
  const problems = messages.map((m) => {
    if (!m.location) return inputError(m.text);
    const caret = `${" ".repeat(m.location.column)}^`;
    const location = { file: m.location.file, line: m.location.line, column: m.location.column + 1 };
    return inputError(`${m.text}\n    ${m.location.lineText}\n    ${caret}`, location);
  });
  return combineProblems(problems);
}

/** An exception thrown while a BUILD.ts runs: point at the first frame in the workspace. */
function evaluationFailure(root: string, error: unknown): KilnError {
  const message = error instanceof Error ? error.message : String(error);
  const stack = error instanceof Error ? (error.stack ?? "") : "";
  const rootUrl = pathToFileURL(root).href + "/";
  for (const line of stack.split("\n")) {
    const match = /(file:\/\/[^\s)]+|\/[^\s():]+):(\d+):(\d+)\)?\s*$/.exec(line);
    if (!match) continue;
    const url = match[1]!.startsWith("file:") ? match[1]! : pathToFileURL(match[1]!).href;
    if (!url.startsWith(rootUrl) || url.includes("/kiln-out/") || url.includes("/node_modules/")) continue;
    const file = decodeURIComponent(url.slice(rootUrl.length));
    const pkg = file === WORKSPACE_FILE ? undefined : file.replace(/\/?BUILD\.ts$/, "");
    const where = pkg === undefined ? "" : ` while loading //${pkg}`;
    return inputError(`error${where}: ${message}`, { file, line: Number(match[2]), column: Number(match[3]) });
  }
  return inputError(`error while loading BUILD files: ${message}`);
}
