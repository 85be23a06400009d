/**
 * The model side of the differential test: a generated workspace (sources, one glob, `cmd` and
 * `step` targets reading sources, the glob and each other), the BUILD.ts text it is written as,
 * and every output file's expected bytes, computed from the current source digests alone.
 *
 * Every output is a function of its inputs' bytes that the test computes itself:
 *   sha   cmd   `sha256sum $SRCS | cut -c1-64`           one digest a line, in $SRCS order
 *   size  cmd   `wc -c < p/s0.bin` / `cat X 2>/dev/null | wc -c`   one size a line (reads by path)
 *   step  step  digest.ts: `<name> <size> <sha256>` per input, names sorted
 * each first line `tag=<n>`: a BUILD.ts edit bumps the tag (step params, cmd text).
 * $SRCS order (checked against the engine): declared order, a glob's matches sorted, a label's
 * outputs sorted by name.
 */
import fc from "fast-check";
import { sha256Hex, showSize, sizeArbitrary } from "./content.js";

export type Kind = "sha" | "size" | "step";
export type InputRef = { source: number } | { glob: true } | { target: number; fullLabel: boolean };

export interface SourceSpec {
  /** Workspace-relative path. */
  path: string;
  size: number;
  seed: number;
}

export interface TargetSpec {
  pkg: string;
  name: string;
  kind: Kind;
  inputs: InputRef[];
}

export interface WorkspaceSpec {
  /** Plain sources; sources[0] is always in package p. */
  sources: SourceSpec[];
  /** Initial files of p/data/*.bin (none: no glob in this workspace). */
  globFiles: SourceSpec[];
  targets: TargetSpec[];
  /** Every source write gets an mtime hours in the past (real sources are older than the build; fresh ones may be racy). */
  oldMtimes: boolean;
  [fc.toStringMethod](): string;
}

export const PACKAGES = ["p", "q"] as const;
export const GLOB_PKG = "p";
export const GLOB_DIR = "p/data";
export const GLOB = "data/*.bin";
export const OUT_FILE: Record<Kind, string> = { sha: "h.txt", size: "n.txt", step: "d.txt" };

/** What the model knows of a file: enough to compute every output. */
export interface Digest {
  size: number;
  sha256: string;
}

// ---------------------------------------------------------------- generation

interface RawTarget {
  inQ: boolean;
  kind: Kind;
  picks: number[];
  fullLabel: boolean;
}

/** A small workspace: 1-3 sources, maybe a glob over 1-3 files, 3-8 targets. */
export function workspaceArbitrary(): fc.Arbitrary<WorkspaceSpec> {
  const size = sizeArbitrary();
  return fc
    .record({
      sources: fc.array(fc.record({ inQ: fc.boolean(), size, seed: fc.nat() }), { minLength: 1, maxLength: 3 }),
      globFiles: fc.array(fc.record({ size, seed: fc.nat() }), { minLength: 0, maxLength: 3 }),
      targets: fc.array(
        fc.record({
          inQ: fc.boolean(),
          kind: fc.constantFrom<Kind>("sha", "size", "step"),
          picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
          fullLabel: fc.boolean(),
        }),
        { minLength: 3, maxLength: 8 },
      ),
      oldMtimes: fc.boolean(),
    })
    .map(({ sources, globFiles, targets, oldMtimes }) => {
      const sourceSpecs = sources.map((s, i) => ({ path: `${i > 0 && s.inQ ? "q" : "p"}/s${i}.bin`, size: s.size, seed: s.seed }));
      const globSpecs = globFiles.map((g, i) => ({ path: `${GLOB_DIR}/g${i}.bin`, size: g.size, seed: g.seed }));
      return withToString({ sources: sourceSpecs, globFiles: globSpecs, targets: resolveTargets(targets, sourceSpecs, globSpecs.length > 0), oldMtimes });
    });
}

/** Turns each target's random picks into inputs it may read: its package's sources, the glob, earlier targets. */
function resolveTargets(raw: RawTarget[], sources: SourceSpec[], hasGlob: boolean): TargetSpec[] {
  const targets: TargetSpec[] = [];
  raw.forEach((r, index) => {
    let pkg = r.inQ ? "q" : "p";
    let pool = inputPool(pkg, r, sources, hasGlob, index);
    if (pool.length === 0) {
      pkg = "p";
      pool = inputPool(pkg, r, sources, hasGlob, index);
    }
    const chosen = new Map<string, InputRef>();
    for (const pick of r.picks) {
      const ref = pool[pick % pool.length]!;
      chosen.set(JSON.stringify({ ...ref, fullLabel: undefined }), ref);
    }
    targets.push({ pkg, name: `t${index}`, kind: r.kind, inputs: [...chosen.values()] });
  });
  return targets;
}

function inputPool(pkg: string, r: RawTarget, sources: SourceSpec[], hasGlob: boolean, index: number): InputRef[] {
  const pool: InputRef[] = [];
  sources.forEach((s, i) => s.path.startsWith(`${pkg}/`) && pool.push({ source: i }));
  // A size command reads each input by a path written in its text; a glob's paths change.
  if (hasGlob && pkg === GLOB_PKG && r.kind !== "size") pool.push({ glob: true });
  for (let t = 0; t < index; t++) pool.push({ target: t, fullLabel: r.fullLabel });
  return pool;
}

function withToString(spec: Omit<WorkspaceSpec, typeof fc.toStringMethod>): WorkspaceSpec {
  return { ...spec, [fc.toStringMethod]: () => describeWorkspace(spec) };
}

/** One line a file and a target: `p/s0.bin 1MiB+1`, `//p:t1 sha <- p/s0.bin, //p:t0`. */
export function describeWorkspace(spec: Omit<WorkspaceSpec, typeof fc.toStringMethod>): string {
  const files = [...spec.sources, ...spec.globFiles].map((s) => `${s.path} ${showSize(s.size)} seed ${s.seed}`);
  const targets = spec.targets.map(
    (t) =>
      `//${t.pkg}:${t.name} ${t.kind} <- ${t.inputs
        .map((ref) => ("source" in ref ? spec.sources[ref.source]!.path : "glob" in ref ? `${GLOB_PKG}/${GLOB}` : labelOf(spec.targets[ref.target]!)))
        .join(", ")}`,
  );
  const mtimes = spec.oldMtimes ? "sources written with old mtimes" : "sources written now";
  return `Workspace{ ${[...files, ...targets, mtimes].join("; ")} }`;
}

// ---------------------------------------------------------------- the tree as the model sees it

/** The mutable state both sides share: current source files and their digests, BUILD tags. */
export class Model {
  /** Every source file present (plain and glob), workspace-relative path -> digest. */
  readonly files = new Map<string, Digest>();
  /** Target name -> tag, bumped by a BUILD.ts edit. */
  readonly tags = new Map<string, number>();

  constructor(readonly spec: WorkspaceSpec) {
    for (const t of spec.targets) this.tags.set(t.name, 0);
  }

  globMatches(): string[] {
    return [...this.files.keys()].filter((p) => p.startsWith(`${GLOB_DIR}/`) && p.endsWith(".bin")).sort();
  }

  hasGlob(): boolean {
    return this.spec.globFiles.length > 0;
  }

  /** Does any target read source i? (Deleting an unread source breaks nothing.) */
  sourceIsRead(i: number): boolean {
    return this.spec.targets.some((t) => t.inputs.some((ref) => "source" in ref && ref.source === i));
  }

  /** Workspace-relative path -> content of every BUILD.ts, step module and WORKSPACE.ts but the sources. */
  buildFiles(): Record<string, string> {
    const files: Record<string, string> = {};
    for (const pkg of PACKAGES) {
      files[`${pkg}/BUILD.ts`] = this.buildText(pkg);
      files[`${pkg}/digest.ts`] = DIGEST_MODULE;
    }
    return files;
  }

  buildText(pkg: string): string {
    const lines = [`import { cmd, step } from "kiln";`];
    for (const t of this.spec.targets.filter((x) => x.pkg === pkg)) lines.push(this.targetText(t));
    return `${lines.join("\n")}\n`;
  }

  private targetText(t: TargetSpec): string {
    const tag = this.tags.get(t.name)!;
    const out = OUT_FILE[t.kind];
    const refs = t.inputs.map((ref) => this.refText(t, ref));
    if (t.kind === "step") {
      const srcs = `{ ${refs.map((r, i) => `i${i}: ${JSON.stringify(r)}`).join(", ")} }`;
      return `export const ${t.name} = step({ srcs: ${srcs}, outs: [${JSON.stringify(out)}], run: "./digest.ts#digest", params: { tag: ${tag} } });`;
    }
    const command = t.kind === "sha" ? shaCommand(tag) : sizeCommand(tag, this.inputPaths(t), t.name);
    return `export const ${t.name} = cmd({ srcs: ${JSON.stringify(refs)}, outs: [${JSON.stringify(out)}], cmd: ${JSON.stringify(command)} });`;
  }

  private refText(from: TargetSpec, ref: InputRef): string {
    if ("source" in ref) return this.spec.sources[ref.source]!.path.slice(from.pkg.length + 1);
    if ("glob" in ref) return GLOB;
    const target = this.spec.targets[ref.target]!;
    return target.pkg === from.pkg && !ref.fullLabel ? `:${target.name}` : labelOf(target);
  }

  /** The workspace-relative paths one input ref stands for, in $SRCS order. */
  private pathsOf(ref: InputRef): string[] {
    if ("source" in ref) return [this.spec.sources[ref.source]!.path];
    if ("glob" in ref) return this.globMatches();
    return [outputPath(this.spec.targets[ref.target]!)];
  }

  private inputPaths(t: TargetSpec): string[] {
    return t.inputs.flatMap((ref) => this.pathsOf(ref));
  }

  /** kiln-out-relative path -> expected bytes, for every target, computed in dependency order. */
  expectedOutputs(): Map<string, string> {
    const outputs = new Map<string, string>();
    const digestOf = (path: string): Digest => {
      const made = outputs.get(path);
      if (made !== undefined) return { size: Buffer.byteLength(made), sha256: sha256Hex(made) };
      const file = this.files.get(path);
      if (!file) throw new Error(`model: no source ${path}`);
      return file;
    };
    for (const t of this.spec.targets) {
      const lines = [`tag=${this.tags.get(t.name)}`];
      if (t.kind === "sha") for (const p of this.inputPaths(t)) lines.push(digestOf(p).sha256);
      if (t.kind === "size") for (const p of this.inputPaths(t)) lines.push(String(digestOf(p).size));
      if (t.kind === "step") {
        t.inputs.forEach((ref, i) => {
          for (const p of this.pathsOf(ref)) lines.push(`i${i} ${digestOf(p).size} ${digestOf(p).sha256}`);
        });
      }
      outputs.set(outputPath(t), `${lines.join("\n")}\n`);
    }
    return outputs;
  }
}

export function labelOf(t: TargetSpec): string {
  return `//${t.pkg}:${t.name}`;
}

export function outputPath(t: TargetSpec): string {
  return `kiln-out/${t.pkg}/${t.name}/${OUT_FILE[t.kind]}`;
}

function shaCommand(tag: number): string {
  return `echo tag=${tag} > $OUT/h.txt; sha256sum $SRCS | cut -c1-64 >> $OUT/h.txt`;
}

/** Reads each input by its path, half with `wc -c < X`, half with `cat X 2>/dev/null | wc -c`. */
function sizeCommand(tag: number, paths: string[], name: string): string {
  const salt = Number(name.slice(1));
  const reads = paths.map((p, i) => ((i + salt) % 2 === 0 ? `wc -c < ${p}` : `cat ${p} 2>/dev/null | wc -c`));
  return `echo tag=${tag} > $OUT/n.txt; { ${reads.join("; ")}; } >> $OUT/n.txt`;
}

/** The step module every package has: `i<k> <size> <sha256>` for each input, named inputs in order. */
const DIGEST_MODULE = `import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

export function digest(ctx: any): void {
  const lines = [\`tag=\${ctx.params.tag}\`];
  const names = Object.keys(ctx.srcs).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  for (const name of names) {
    for (const path of ([] as string[]).concat(ctx.srcs[name])) {
      const bytes = readFileSync(path);
      lines.push(\`\${name} \${bytes.length} \${createHash("sha256").update(bytes).digest("hex")}\`);
    }
  }
  writeFileSync(ctx.out("d.txt"), lines.join("\\n") + "\\n");
}
`;
