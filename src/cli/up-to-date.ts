/**
 * `kiln build` when nothing changed: checks the up-to-date stamp of this exact request and, if it
 * holds, prints what a fully cached build prints. Imports only what that needs, so a no-op build
 * pays for no graph, no hashing and no LMDB.
 */
import { relative } from "node:path";
import { KILN_VERSION } from "../kiln-install.js";
import { checkUpToDateStamp, stampFile } from "../state/up-to-date-stamp.js";
import { stateDirOf } from "../state/workspace-state.js";
import type { Pattern } from "../workspace/label.js";
import { findWorkspaceRoot } from "../workspace/root.js";
import type { StepEvent, SummaryEvent } from "../exec/events.js";
import { currentPackage, parsePatterns } from "./main.js";
import { cachedLine, formatSummary } from "./reporter.js";

/** The request an up-to-date stamp answers: what was asked, in which workspace. */
export function requestIdentity(root: string, mode: "build" | "test", patterns: readonly Pattern[]): string {
  return JSON.stringify({ root, mode, patterns: patterns.map((p) => JSON.stringify(p)).sort() });
}

/** The exit code of an up-to-date build after printing its result, or undefined to build normally. */
export function tryUpToDate(
  patternTexts: string[],
  options: { workspace?: string; json?: boolean },
  mode: "build" | "test",
): number | undefined {
  const started = performance.now();
  let root: string;
  let patterns: Pattern[];
  try {
    root = findWorkspaceRoot(process.cwd(), options.workspace);
    patterns = parsePatterns(patternTexts, currentPackage(root, process.cwd()));
  } catch {
    return undefined; // the normal path reports it
  }
  const request = requestIdentity(root, mode, patterns);
  const record = checkUpToDateStamp(stampFile(stateDirOf(root), request), KILN_VERSION, request, process.env);
  if (!record) return undefined;
  const count = record.steps.length;
  const summary: SummaryEvent = {
    type: "summary",
    steps: count,
    executed: 0,
    cached: count,
    cachedLocal: count,
    cachedRemote: 0,
    failed: 0,
    ms: Math.round(performance.now() - started),
  };
  const out: string[] = [];
  if (options.json) {
    for (const { label, key } of record.steps) {
      const event: StepEvent = { type: "step", label, status: "cached", cache: "local", key, ms: 0 };
      out.push(JSON.stringify(event));
    }
    out.push(JSON.stringify(summary));
  } else {
    if (count > 0) out.push(cachedLine(record.steps.map((s) => s.label)));
    if (record.requestedOutputs.length > 0) {
      out.push("outputs:", ...record.requestedOutputs.map((path) => `  ${relative(process.cwd(), path)}`));
    }
    out.push(formatSummary(summary));
  }
  process.stdout.write(`${out.join("\n")}\n`);
  return 0;
}
