/**
 * Provenance: from one action's key, the walk down every action that produced its inputs (their
 * keys are in each result's ActionOrigins) to source files, `@source`s and code files, and the
 * in-toto Statement v1 / SLSA provenance v1 that says so. Pure: cache records come in through
 * `lookup`, times and versions as values.
 */
import type { ActionOrigins, ActionResult } from "../cache/local-store.js";
import type { Json } from "../api/action-spec.js";
import type { KeyIngredients } from "../key/action-key.js";
import { OUTPUT_ROOT, outputDir } from "../graph/action-graph.js";
import { parseLabel } from "../workspace/label.js";

export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
export const KILN_BUILD_TYPE = "https://kiln.build/buildtypes/action/v1";
export const KILN_BUILDER_ID = "https://kiln.build/builder/local";

/** What the cache holds of one action. */
export interface ActionRecord {
  key: string;
  ingredients: KeyIngredients;
  result: ActionResult;
  /** Absent for results stored by a kiln before origins were recorded. */
  origins?: ActionOrigins;
  /**
   * Where the action ran ("local", "remote:<endpoint>"), when the result says: each step of the
   * statement carries it as `ranOn`. Left to the executor that records it (remote execution).
   */
  ranOn?: string;
}

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  mediaType?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, Json>;
}

export interface Statement {
  _type: typeof STATEMENT_TYPE;
  subject: ResourceDescriptor[];
  predicateType: typeof SLSA_PROVENANCE_V1;
  predicate: {
    buildDefinition: {
      buildType: string;
      externalParameters: Record<string, Json>;
      internalParameters: Record<string, Json>;
      resolvedDependencies: ResourceDescriptor[];
    };
    runDetails: {
      builder: { id: string; version: Record<string, string> };
      metadata?: { invocationId: string; startedOn?: string; finishedOn?: string };
      byproducts: ResourceDescriptor[];
    };
  };
}

export interface Walk {
  /** Every action reached, the requested one first, then by label. */
  actions: ActionRecord[];
  /** Keys named as producers but no longer in the cache (or stored without origins). */
  incomplete: string[];
}

/** Every action the one at `key` was built from, transitively. */
export function walkBuild(key: string, lookup: (key: string) => ActionRecord | undefined): Walk {
  const seen = new Map<string, ActionRecord>();
  const incomplete: string[] = [];
  const stack = [key];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    const record = lookup(next);
    if (!record) {
      incomplete.push(next);
      continue;
    }
    seen.set(next, record);
    if (!record.origins) {
      if (record.ingredients.inputs.some(([path]) => path.startsWith(`${OUTPUT_ROOT}/`))) incomplete.push(next);
      continue;
    }
    for (const [, depKey] of record.origins.deps) stack.push(depKey);
  }
  const [first, ...rest] = [...seen.values()];
  rest.sort((a, b) => (a.ingredients.label < b.ingredients.label ? -1 : a.ingredients.label > b.ingredients.label ? 1 : 0));
  return { actions: first ? [first, ...rest] : [], incomplete: incomplete.sort() };
}

/** Output file paths (workspace-relative) of an action. */
export function outputPaths(record: ActionRecord): { path: string; digest: string; size: number }[] {
  const { pkg, name } = parseLabel(record.ingredients.label);
  const dir = outputDir(pkg, name);
  return record.result.outputs.map((o) => ({ path: `${dir}/${o.name}`, digest: o.digest, size: o.size }));
}

/** An npm package a step's code imports, as its package.json and the workspace's package-lock.json say. */
export interface NpmPackage {
  name: string;
  version: string;
  /** package-lock.json's `integrity` (the tarball's digest), as algorithm and hex. */
  integrity?: { algorithm: string; hex: string };
}

/** The git commit the workspace is at when the statement is made (lock/git-state.ts). */
export interface GitState {
  commit: string;
  /** `origin`'s URL without user information (a token in it must not reach a statement). */
  remote?: string;
  /** Uncommitted changes in the tree: the commit alone does not describe it. */
  dirty: boolean;
}

/** What the statement needs of the world beyond the cache's records, looked up by the caller. */
export interface MaterialContext {
  /** The package behind a code file `node_modules/<name>/package.json` with that digest, if it is installed. */
  npmPackage?: (path: string, digest: string) => NpmPackage | undefined;
  git?: GitState;
}

const NPM_MANIFEST = /^node_modules\/((?:@[^/]+\/)?[^/]+)\/package\.json$/;

/** `pkg:npm/<name>@<version>`, a scope's `@` percent-encoded as the purl spec asks. */
export function npmPurl(name: string, version: string): string {
  return `pkg:npm/${name.replace(/^@/, "%40")}@${version}`;
}

/** The git commit as a material: `git+<remote>@<sha>` (SPDX / SLSA's VCS form) where there is a remote. */
export function gitMaterial(git: GitState): ResourceDescriptor {
  const name = git.remote ? `git+${git.remote}@${git.commit}` : `git@${git.commit}`;
  return { name, ...(git.remote ? { uri: name } : {}), digest: { gitCommit: git.commit }, annotations: { kind: "git", dirty: git.dirty } };
}

/**
 * The transitive inputs that are not outputs of another action, each once: source files, each
 * `@source` (a url source with its `uri`; its files in the sandbox are not listed again), code
 * files (npm packages as purls with the lockfile's integrity), the BUILD.ts, WORKSPACE.ts and
 * kiln.lock that defined the actions, the tools `cmd` steps named, and the git commit.
 */
export function resolvedDependencies(walk: Walk, materials: MaterialContext = {}): ResourceDescriptor[] {
  const byName = new Map<string, ResourceDescriptor>();
  const add = (descriptor: ResourceDescriptor & { name: string }) => {
    const key = `${descriptor.name}\0${descriptor.digest?.sha256 ?? descriptor.digest?.sha512 ?? ""}`;
    if (!byName.has(key)) byName.set(key, descriptor);
  };
  for (const action of walk.actions) {
    const sources = action.origins?.sources ?? {};
    for (const [name, source] of Object.entries(sources)) {
      add({
        name: `@${name}`,
        ...(source.kind === "url" ? { uri: source.location } : {}),
        digest: { sha256: source.sha256 },
        annotations: { kind: source.kind, location: source.location, size: source.size, ...(source.files !== undefined ? { files: source.files, digestOf: "listing" } : {}) },
      });
    }
    for (const [path, digest] of action.ingredients.inputs) {
      if (path.startsWith(`${OUTPUT_ROOT}/`)) continue;
      const external = /^external\/([^/]+)\//.exec(path);
      if (external) {
        // The `@name` entry above names the source and its digest (a directory's covers its listing).
        if (sources[external[1]!]) continue;
        add({ name: path, digest: { sha256: digest }, annotations: { source: `@${external[1]}` } });
      } else add({ name: path, digest: { sha256: digest }, annotations: { kind: "file" } });
    }
    for (const [path, digest] of action.origins?.code ?? []) {
      const manifest = NPM_MANIFEST.exec(path);
      const npm = manifest ? materials.npmPackage?.(path, digest) : undefined;
      if (npm) {
        const purl = npmPurl(npm.name, npm.version);
        add({
          name: purl,
          uri: purl,
          digest: npm.integrity ? { [npm.integrity.algorithm]: npm.integrity.hex } : { sha256: digest },
          annotations: { kind: "npm", packageJson: { path, sha256: digest }, ...(npm.integrity ? {} : { digestOf: "package.json" }) },
        });
      } else add({ name: path, digest: { sha256: digest }, annotations: { kind: "code", step: action.ingredients.label } });
    }
    for (const [path, digest] of action.origins?.definition ?? []) add({ name: path, digest: { sha256: digest }, annotations: { kind: "definition" } });
    for (const [name, version] of action.ingredients.tools) add({ name: `tool:${name}`, uri: `pkg:generic/${encodeURIComponent(name)}`, annotations: { kind: "tool", version } });
  }
  if (materials.git) add(gitMaterial(materials.git) as ResourceDescriptor & { name: string });
  return [...byName.values()].sort((a, b) => (a.name! < b.name! ? -1 : a.name! > b.name! ? 1 : 0));
}

export interface StatementContext {
  workspace: { name: string; version: string };
  kilnVersion: string;
  nodeVersion: string;
  platform: string;
  /** The last build's times and, per label, the key it ended with and whether it ran or was restored. */
  run?: { invocationId?: string; startedOn: string; finishedOn: string; steps: Record<string, { key: string; status: "executed" | "cached" }> };
  /** The invocationId when the last build gave none (made before builds had one, or another build's key). */
  invocationId: string;
  materials?: MaterialContext;
  /**
   * false (releases): no times and no cached/executed status, so the statement depends only on
   * what was built from what and the same release made twice is the same bytes.
   */
  times?: boolean;
}

/** The in-toto statement for the action at the head of `walk`. */
export function provenanceStatement(walk: Walk, context: StatementContext): Statement {
  const head = walk.actions[0]!;
  const i = head.ingredients;
  const run = context.run?.steps[i.label]?.key === head.key ? context.run : undefined;
  const executedAt = (record: ActionRecord) => new Date(record.result.createdAt).toISOString();
  const runOf = (a: ActionRecord) => {
    const status = run?.steps[a.ingredients.label];
    // null: the last build did not produce this key (the result is an earlier build's).
    return { cached: status?.key === a.key ? status.status === "cached" : null, executedAt: executedAt(a), ms: Math.round(a.result.ms) };
  };
  const steps = walk.actions.map((a) => ({
    label: a.ingredients.label,
    key: a.key,
    rule: a.ingredients.rule,
    action: a.ingredients.action,
    code: a.ingredients.code,
    params: a.ingredients.params,
    // How a cmd was isolated, and whether it kept the network (exec/namespace-sandbox.ts): a step that
    // could reach the network or the whole machine is less reproducible, and says so here.
    ...(a.result.sandbox ? { sandbox: a.result.sandbox } : {}),
    ...(a.ingredients.network || a.result.network ? { network: true } : {}),
    ...(a.ranOn ? { ranOn: a.ranOn } : {}),
    ...(context.times === false ? {} : runOf(a)),
  }));
  return {
    _type: STATEMENT_TYPE,
    subject: outputPaths(head).map((o) => ({ name: o.path, digest: { sha256: o.digest } })),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: KILN_BUILD_TYPE,
        externalParameters: { workspace: context.workspace, target: i.label, rule: i.rule, params: i.params },
        internalParameters: {
          key: head.key,
          action: i.action,
          code: i.code,
          platform: i.platform,
          tools: i.tools.map(([name, version]) => ({ name, version })),
          steps,
          ...(walk.incomplete.length > 0 ? { incomplete: walk.incomplete } : {}),
        },
        resolvedDependencies: resolvedDependencies(walk, context.materials),
      },
      runDetails: {
        builder: { id: KILN_BUILDER_ID, version: { kiln: context.kilnVersion, node: context.nodeVersion, platform: context.platform } },
        // A release's statement has no run: no times, no id, so the same release is the same bytes.
        ...(context.times === false
          ? {}
          : {
              metadata: {
                invocationId: run?.invocationId ?? context.invocationId,
                startedOn: run?.startedOn ?? executedAt(head),
                finishedOn: run?.finishedOn ?? executedAt(head),
              },
            }),
        // The artifacts a run leaves beside its outputs: each step's log, a blob in the cache.
        byproducts: walk.actions.flatMap((a) => {
          if (!a.result.log) return [];
          return [
            {
              name: `log of ${a.ingredients.label}`,
              digest: { sha256: a.result.log },
              mediaType: "text/plain",
              annotations: { step: a.ingredients.label, key: a.key },
            },
          ];
        }),
      },
    },
  };
}
