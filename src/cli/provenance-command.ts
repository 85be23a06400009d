/**
 * `kiln provenance <label> [--out file] [--sign key.pem]`: the in-toto statement for the target's
 * last build, walked from the cache (lock/provenance.ts), optionally in a signed DSSE envelope
 * (lock/dsse.ts); a note on stderr when the tree no longer holds what that build read.
 * `kiln provenance --verify file [--key pub.pem] [--subjects-only]` checks the signature, each
 * subject against the file on disk and each material against the workspace (lock/material-drift.ts).
 * `kiln build --provenance` uses writeProvenance.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { defaultCacheDir, LocalStore } from "../cache/local-store.js";
import { inputError } from "../errors.js";
import { outputDir } from "../graph/action-graph.js";
import { digestFile } from "../key/file-digest.js";
import { KILN_ROOT, KILN_VERSION } from "../kiln-install.js";
import { IN_TOTO_PAYLOAD_TYPE, isEnvelope, openEnvelope, readSigningKey, readVerifyingKey, signEnvelope } from "../lock/dsse.js";
import { readGitState } from "../lock/git-state.js";
import { describeDrift, findDrift, materialCheckOf, uncheckedReason, type Drift, type MaterialCheck } from "../lock/material-drift.js";
import { npmPackageLookup } from "../lock/npm-packages.js";
import { provenanceStatement, walkBuild, type ActionRecord, type ResourceDescriptor, type Statement } from "../lock/provenance.js";
import { hashPathSource } from "../lock/sources.js";
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
  sign?: string;
  key?: string;
  subjectsOnly?: boolean;
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
  const git = readGitState(session.root);
  return provenanceStatement(walk, {
    workspace: { name: manifest.name, version: manifest.version },
    kilnVersion: KILN_VERSION,
    nodeVersion: process.versions.node,
    platform: platformIdentity(),
    run: withRun ? readJsonFile<LastRun>(join(session.stateDir, LAST_RUN_FILE)) : undefined,
    invocationId: randomUUID(),
    times: withRun,
    // Packages a step imports may come from the workspace's node_modules or from kiln's own.
    materials: { npmPackage: npmPackageLookup([session.root, KILN_ROOT]), ...(git ? { git } : {}) },
  });
}

export function formatStatement(statement: Statement): string {
  return `${JSON.stringify(statement, null, 2)}\n`;
}

/** A statement as a DSSE envelope signed with the PEM private key in `keyFile`, as file text. */
export function signedStatementText(statement: Statement, keyFile: string): string {
  const key = readSigningKey(readKeyFile(keyFile), keyFile);
  return `${JSON.stringify(signEnvelope(Buffer.from(formatStatement(statement)), key), null, 2)}\n`;
}

export function readKeyFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw inputError(`cannot read the key ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
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
  if (options.verify) return verifyStatement(options.verify, options);
  if (options.key) throw inputError("--key is for --verify (the public key to check a signed statement with); to sign, use --sign private.pem");
  if (!labelText) throw inputError("kiln provenance takes a label (//pkg:name), or --verify statement.json");
  const session = WorkspaceSession.open(process.cwd(), options.workspace);
  const [pattern] = parsePatterns([labelText], currentPackage(session.root, process.cwd()));
  if (pattern?.kind !== "label") throw inputError(`kiln provenance takes one label (//pkg:name), not the pattern ${labelText}`);
  const store = await LocalStore.open(options.cacheDir ?? defaultCacheDir(process.env), session.statCache);
  try {
    const statement = await statementFor(session, store, pattern.label);
    const text = options.sign ? signedStatementText(statement, options.sign) : formatStatement(statement);
    if (options.out) {
      writeFileAtomic(resolve(options.out), text);
      process.stderr.write(`kiln: provenance of ${pattern.label} written to ${options.out}${options.sign ? " (a signed DSSE envelope)" : ""}\n`);
    } else process.stdout.write(text);
    // The statement is the last build's: say so when the tree has moved on since.
    const { drift } = await materialDrift(statement.predicate.buildDefinition.resolvedDependencies, session);
    if (drift.length > 0) {
      process.stderr.write(
        `kiln: note: this statement describes the last build of ${pattern.label}, not the tree as it is: ` +
          `${drift.length} of its materials changed since (${drift.map((d) => (d.path === d.name ? d.name : `${d.name} = ${d.path}`)).join(", ")}); ` +
          `kiln build ${pattern.label} to describe the tree\n`,
      );
    }
    return 0;
  } finally {
    await store.close();
  }
}

/** The materials of a statement that the workspace's tree no longer holds, and those not checked. */
async function materialDrift(
  dependencies: readonly ResourceDescriptor[],
  session: WorkspaceSession,
): Promise<{ checked: number; drift: Drift[]; unchecked: Map<string, number> }> {
  const checks: MaterialCheck[] = [];
  const unchecked = new Map<string, number>();
  for (const dependency of dependencies) {
    const check = materialCheckOf(dependency);
    if (check) checks.push(check);
    else {
      const reason = uncheckedReason(dependency) ?? "not a file of the workspace";
      unchecked.set(reason, (unchecked.get(reason) ?? 0) + 1);
    }
  }
  const digestAt = async (path: string) => {
    try {
      return (await digestFile(path)).digest as string;
    } catch {
      return undefined;
    }
  };
  const drift = await findDrift(checks, async (check) => {
    switch (check.kind) {
      case "directory":
        try {
          return (await hashPathSource(session.root, check.name.replace(/^@/, ""), { kind: "path", path: check.path }, session.statCache)).entry.sha256;
        } catch {
          return undefined;
        }
      case "npm": {
        // As npmPackageLookup finds packages: the workspace's node_modules, then kiln's.
        const here = await digestAt(resolve(session.root, check.path));
        return here === check.sha256 ? here : ((await digestAt(resolve(KILN_ROOT, check.path))) ?? here);
      }
      case "file":
        return digestAt(resolve(session.root, check.path));
      default:
        return check.kind satisfies never;
    }
  });
  return { checked: checks.length, drift, unchecked };
}

/** A statement file's statement: a plain one, or the payload of a DSSE envelope whose signature verifies with --key. */
function readStatementFile(file: string, keyFile: string | undefined): { statement?: unknown; refused?: string; signed: boolean } {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw inputError(`${file}: cannot read it as JSON (${(error as Error).message})`);
  }
  if (!isEnvelope(value)) {
    if (keyFile) return { refused: `${file} is not signed (a statement, not a DSSE envelope), so --key ${keyFile} cannot vouch for it`, signed: false };
    return { statement: value, signed: false };
  }
  if (!keyFile) throw inputError(`${file} is a signed DSSE envelope: pass --key public.pem to check its signature`);
  const opened = openEnvelope(value, readVerifyingKey(readKeyFile(keyFile), keyFile));
  if ("refused" in opened) return { refused: `the signature of ${file} is refused: ${opened.refused}`, signed: true };
  if (value.payloadType !== IN_TOTO_PAYLOAD_TYPE) return { refused: `${file} is signed, but its payload is ${value.payloadType}, not an in-toto statement`, signed: true };
  try {
    return { statement: JSON.parse(opened.payload.toString("utf8")), signed: true };
  } catch (error) {
    return { refused: `${file}: its signed payload is not JSON (${(error as Error).message})`, signed: true };
  }
}

/**
 * Checks a statement (or a signed envelope, with --key): each subject's sha256 against the file at
 * its name, resolved against `--dir` (default: the statement's directory when the first subject
 * is there, as in a release; else the workspace root; else the statement's directory), then,
 * unless --subjects-only, each material against the workspace (`-C`, else the one around the
 * current directory). Exit 0 when everything matches, 1 when anything is missing or differs.
 */
async function verifyStatement(file: string, options: ProvenanceOptions): Promise<number> {
  const read = readStatementFile(file, options.key);
  if (read.refused) {
    process.stdout.write(`REFUSED   ${read.refused}\n`);
    return 1;
  }
  const parsed = statementSchema.safeParse(read.statement);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw inputError(`${file} is not an in-toto statement with SLSA provenance v1: ${issue.path.join(".")}: ${issue.message}`);
  }
  if (read.signed) process.stdout.write(`signed    the signature verifies with ${options.key}\n`);
  let session: WorkspaceSession | undefined;
  try {
    session = WorkspaceSession.open(process.cwd(), options.workspace);
  } catch (error) {
    if (options.workspace) throw error; // -C named no workspace: say so, exit 2
  }
  let base = options.dir ? resolve(options.dir) : undefined;
  // A release holds its outputs beside its statement: look there first.
  if (!base && existsSync(resolve(dirname(resolve(file)), parsed.data.subject[0]!.name))) base = dirname(resolve(file));
  base ??= session?.root ?? dirname(resolve(file));
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
  const target = String(parsed.data.predicate.buildDefinition.externalParameters.target);
  const count = parsed.data.subject.length;
  process.stdout.write(
    bad === 0
      ? `all ${count} subjects match: these files are the outputs of ${target} that the statement describes\n`
      : `${bad} of ${count} subjects do not match\n`,
  );
  if (options.subjectsOnly) return bad === 0 ? 0 : 1;

  if (!session) {
    process.stdout.write(`materials not checked: not inside a workspace (run it in the workspace, or pass -C DIR; --subjects-only to check the files alone)\n`);
    return bad === 0 ? 0 : 1;
  }
  const { checked, drift, unchecked } = await materialDrift(parsed.data.predicate.buildDefinition.resolvedDependencies as ResourceDescriptor[], session);
  for (const d of drift) process.stdout.write(`DRIFT     ${describeDrift(d)}\n`);
  const skipped = [...unchecked].map(([reason, n]) => `${n} ${reason}`).join("; ");
  process.stdout.write(
    drift.length === 0
      ? `all ${checked} materials in the workspace match${skipped ? ` (not re-hashed: ${skipped})` : ""}\n`
      : `${drift.length} of ${checked} materials differ from the workspace: it no longer holds what ${target} was built from${skipped ? ` (not re-hashed: ${skipped})` : ""}\n`,
  );
  return bad === 0 && drift.length === 0 ? 0 : 1;
}
