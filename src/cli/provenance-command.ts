/**
 * `kiln provenance <label> [--out file]`: the in-toto statement for the target's last build,
 * walked from the cache (lock/provenance.ts); `kiln provenance --verify statement.json` checks
 * each subject's sha256 against the file on disk. `kiln build --provenance` uses writeProvenance.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { inputError } from "../errors.js";
import { outputDir } from "../graph/action-graph.js";
import { digestFile } from "../key/file-digest.js";
import { KILN_VERSION } from "../kiln-install.js";
import { provenanceStatement, walkBuild, type ActionRecord, type Statement } from "../lock/provenance.js";
import { statementSchema } from "../lock/statement-schema.js";
import { readJsonFile, writeFileAtomic } from "../state/atomic-file.js";
import { LAST_RUN_FILE, platformIdentity, WorkspaceSession, type LastRun } from "../session/workspace-session.js";
import { parseLabel } from "../workspace/label.js";
import { currentPackage, parsePatterns } from "./up-to-date.js";

interface ProvenanceOptions {
  workspace?: string;
  cacheDir?: string;
  out?: string;
  verify?: string;
  dir?: string;
}

/**
 * The statement for `label` as last built in this workspace. `withRun`: add the last build's
 * times and which steps were cached; without it (releases) the statement depends only on the
 * cache's records, so making it twice gives the same bytes.
 */
export async function statementFor(session: WorkspaceSession, store: LocalStore, label: string, withRun = true): Promise<Statement> {
  const key = session.lastResults.get(label)?.key;
  if (!key) throw inputError(`${label} has not been built in this workspace yet (run kiln build ${label})`);
  const lookup = (k: string): ActionRecord | undefined => {
    const result = store.getAction(k);
    const ingredients = store.getIngredients(k);
    return result && ingredients ? { key: k, result, ingredients, origins: store.getOrigins(k) } : undefined;
  };
  const walk = walkBuild(key, lookup);
  if (walk.actions.length === 0) throw inputError(`${label}: its last result (key ${key.slice(0, 12)}) is no longer in the cache; build it again`);
  const { manifest } = await session.load([]);
  return provenanceStatement(walk, {
    workspace: { name: manifest.name, version: manifest.version },
    kilnVersion: KILN_VERSION,
    nodeVersion: process.versions.node,
    platform: platformIdentity(),
    run: withRun ? readJsonFile<LastRun>(join(session.stateDir, LAST_RUN_FILE)) : undefined,
    times: withRun,
  });
}

export function formatStatement(statement: Statement): string {
  return `${JSON.stringify(statement, null, 2)}\n`;
}

/** Writes `kiln-out/<pkg>/<name>.provenance.json` beside each label's output directory. */
export async function writeProvenance(session: WorkspaceSession, cacheDir: string, labels: readonly string[]): Promise<string[]> {
  const store = await LocalStore.open(cacheDir, session.statCache);
  const written: string[] = [];
  try {
    for (const label of labels) {
      const { pkg, name } = parseLabel(label);
      const file = join(session.root, `${outputDir(pkg, name)}.provenance.json`);
      writeFileAtomic(file, formatStatement(await statementFor(session, store, label)));
      written.push(file);
    }
  } finally {
    await store.close();
  }
  return written;
}

export async function runProvenanceCommand(labelText: string | undefined, options: ProvenanceOptions): Promise<number> {
  if (options.verify) return verifyStatement(options.verify, options.dir);
  if (!labelText) throw inputError("kiln provenance takes a label (//pkg:name), or --verify statement.json");
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const [pattern] = parsePatterns([labelText], currentPackage(session.root, process.cwd()));
  if (pattern?.kind !== "label") throw inputError(`kiln provenance takes one label (//pkg:name), not the pattern ${labelText}`);
  const store = await LocalStore.open(options.cacheDir ?? defaultCacheDir(process.env), session.statCache);
  try {
    const text = formatStatement(await statementFor(session, store, pattern.label));
    if (options.out) {
      writeFileAtomic(resolve(options.out), text);
      process.stderr.write(`kiln: provenance of ${pattern.label} written to ${options.out}\n`);
    } else process.stdout.write(text);
    return 0;
  } finally {
    await store.close();
  }
}

/**
 * Checks each subject of a statement against the file at its name, resolved against `dir`
 * (default: the statement's directory when the first subject is there, as in a release; else
 * the workspace root when run inside one; else the statement's directory).
 * Exit 0 when all match, 1 when any is missing or differs.
 */
async function verifyStatement(file: string, dir: string | undefined): Promise<number> {
  let parsed;
  try {
    parsed = statementSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
  } catch (error) {
    throw inputError(`${file}: cannot read it as JSON (${(error as Error).message})`);
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw inputError(`${file} is not an in-toto statement with SLSA provenance v1: ${issue.path.join(".")}: ${issue.message}`);
  }
  let base = dir;
  // A release holds its outputs beside its statement: look there first.
  if (!base && existsSync(resolve(dirname(resolve(file)), parsed.data.subject[0]!.name))) base = dirname(resolve(file));
  if (!base) {
    try {
      base = WorkspaceSession.open(process.cwd()).root;
    } catch {
      base = dirname(resolve(file));
    }
  }
  let bad = 0;
  for (const subject of parsed.data.subject) {
    const path = resolve(base, subject.name);
    if (!existsSync(path)) {
      bad++;
      process.stdout.write(`missing   ${subject.name} (looked at ${path})\n`);
      continue;
    }
    const { digest } = await digestFile(path);
    if (digest === subject.digest.sha256) process.stdout.write(`ok        ${subject.name} sha256 ${digest}\n`);
    else {
      bad++;
      process.stdout.write(`DIFFERENT ${subject.name}\n    statement sha256 ${subject.digest.sha256}\n    on disk   sha256 ${digest}\n`);
    }
  }
  const target = parsed.data.predicate.buildDefinition.externalParameters.target;
  process.stdout.write(
    bad === 0
      ? `all ${parsed.data.subject.length} subjects match: these files are the outputs of ${String(target)} that the statement describes\n`
      : `${bad} of ${parsed.data.subject.length} subjects do not match\n`,
  );
  return bad === 0 ? 0 : 1;
}
