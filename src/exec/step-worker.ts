/**
 * The piscina worker that runs `step` and `test` functions. It imports the step's pre-built
 * bundle (plain JavaScript: no TypeScript loader in workers), gives it a context, and captures
 * console output and ctx.log lines as the step's log. One task at a time per worker, so
 * redirecting console per task is safe.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

export interface StepTask {
  bundlePath: string;
  exportName: string;
  label: string;
  srcs: Record<string, string | string[]>;
  params: unknown;
  outDir: string;
  seed: number;
}

export type StepOutcome = { ok: true; log: string } | { ok: false; log: string; error: string };

/** mulberry32: small, fast, and good enough for shuffles and initialisation. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Bundles carry inline source maps: a step's stack trace then names the user's own file and line.
process.setSourceMapsEnabled(true);

export default async function runStep(task: StepTask): Promise<StepOutcome> {
  const lines: string[] = [];
  const log = (...args: unknown[]) => lines.push(format(...args));
  const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
  console.log = console.info = console.warn = console.error = console.debug = log;
  try {
    const module = (await import(pathToFileURL(task.bundlePath).href)) as Record<string, unknown>;
    const fn = module[task.exportName];
    if (typeof fn !== "function") {
      const exported = Object.keys(module).filter((k) => typeof module[k] === "function");
      return { ok: false, log: "", error: `the module exports no function "${task.exportName}" (it exports: ${exported.join(", ") || "none"})` };
    }
    const ctx = {
      label: task.label,
      srcs: task.srcs,
      params: task.params,
      seed: task.seed,
      random: seededRandom(task.seed),
      log,
      out(name: string): string {
        const path = join(task.outDir, name);
        mkdirSync(dirname(path), { recursive: true });
        return path;
      },
    };
    await fn(ctx);
    return { ok: true, log: lines.join("\n") };
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return { ok: false, log: lines.join("\n"), error: text };
  } finally {
    Object.assign(console, saved);
  }
}
