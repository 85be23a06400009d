/**
 * What differs between two provenance statements of the same target (two releases, or a release
 * and the current build): steps, params, code and inputs, one line each. Pure.
 */
import type { Json } from "../api/action-spec.js";
import { canonicalJson } from "../key/canonical.js";
import { describeJsonChanges } from "../key/action-key.js";
import type { ResourceDescriptor, Statement } from "./provenance.js";

interface StepDefinition {
  label: string;
  code: string;
  params: Json;
}

function stepsOf(statement: Statement): Map<string, StepDefinition> {
  const steps = (statement.predicate.buildDefinition.internalParameters.steps ?? []) as unknown as StepDefinition[];
  return new Map(steps.map((s) => [s.label, s]));
}

function dependencies(statement: Statement): Map<string, ResourceDescriptor> {
  return new Map(statement.predicate.buildDefinition.resolvedDependencies.map((d) => [d.name ?? d.uri ?? "", d]));
}

/** How a diff line names a resolved dependency, by its `annotations.kind` (lock/provenance.ts); others are inputs. */
const KIND_NAMES: Record<string, string> = { code: "code file", definition: "definition", npm: "package", tool: "tool", git: "commit" };

/** Lines saying what changed from `before` to `after`; empty when the builds are the same. */
export function diffStatements(before: Statement, after: Statement): string[] {
  const lines: string[] = [];
  const a = stepsOf(before);
  const b = stepsOf(after);
  for (const label of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const x = a.get(label);
    const y = b.get(label);
    if (!x) lines.push(`step added: ${label}`);
    else if (!y) lines.push(`step removed: ${label}`);
    else {
      if (canonicalJson(x.params) !== canonicalJson(y.params)) lines.push(...describeJsonChanges("params", x.params, y.params).map((c) => `${label} ${c}`));
      if (x.code !== y.code) lines.push(`${label} code changed`);
    }
  }
  const da = dependencies(before);
  const db = dependencies(after);
  for (const name of [...new Set([...da.keys(), ...db.keys()])].sort()) {
    const x = da.get(name);
    const y = db.get(name);
    const kind = KIND_NAMES[String((x ?? y)!.annotations?.kind)] ?? "input";
    if (!x) lines.push(`${kind} added: ${name} (sha256 ${y!.digest?.sha256?.slice(0, 12)})`);
    else if (!y) lines.push(`${kind} removed: ${name}`);
    else if (x.digest?.sha256 !== y.digest?.sha256 || x.uri !== y.uri) {
      lines.push(`${kind} changed: ${name} (sha256 ${x.digest?.sha256?.slice(0, 12)} -> ${y.digest?.sha256?.slice(0, 12)}${x.uri !== y.uri ? `, ${x.uri} -> ${y.uri}` : ""})`);
    }
  }
  const sa = new Map(before.subject.map((s) => [s.name, s.digest?.sha256]));
  for (const subject of after.subject) {
    if (sa.get(subject.name) !== subject.digest?.sha256) lines.push(`output ${sa.has(subject.name) ? "changed" : "added"}: ${subject.name}`);
  }
  return lines;
}
