/**
 * `kiln watch --json` as a child process: its events grouped into rebuilds (one summary each),
 * waiting for the next one, and stopping it as a user does (Ctrl-C).
 */
import type { ChildProcess } from "node:child_process";
import type { Fixture, StepEvent, SummaryEvent } from "./harness.js";

export interface Rebuild {
  steps: StepEvent[];
  summary: SummaryEvent;
  executed: string[];
  cached: string[];
  failed: string[];
}

export interface WatchRun {
  child: ChildProcess;
  rebuilds: Rebuild[];
  stderr(): string;
  /** Waits until at least `count` rebuilds have ended; returns the last one. */
  rebuild(count: number, ms?: number): Promise<Rebuild>;
  /** Waits until stderr matches. */
  stderrMatches(pattern: RegExp, ms?: number): Promise<boolean>;
  /** SIGINT; resolves with the exit code. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startWatch(f: Fixture, args: string[], env: Record<string, string | undefined> = {}): WatchRun {
  const child = f.spawnKiln(["watch", "--json", ...args], { env: { KILN_DEBUG_WATCH: process.env.KILN_DEBUG_WATCH, ...env } });
  const rebuilds: Rebuild[] = [];
  let steps: StepEvent[] = [];
  let buffered = "";
  let stderr = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() === "") continue;
      const event = JSON.parse(line) as StepEvent | SummaryEvent;
      if (event.type === "step") steps.push(event);
      else {
        const pick = (status: string) => steps.filter((s) => s.status === status).map((s) => s.label).sort();
        rebuilds.push({ steps, summary: event, executed: pick("executed"), cached: pick("cached"), failed: pick("failed") });
        steps = [];
      }
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const until = async (condition: () => boolean, ms: number, what: string) => {
    for (let waited = 0; !condition(); waited += 20) {
      if (waited > ms) throw new Error(`timed out waiting for ${what}; ${rebuilds.length} rebuilds so far; stderr:\n${stderr}`);
      if (child.exitCode !== null) throw new Error(`kiln watch exited (${child.exitCode}) waiting for ${what}; stderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return {
    child,
    rebuilds,
    stderr: () => stderr,
    async rebuild(count, ms = 20_000) {
      await until(() => rebuilds.length >= count, ms, `rebuild ${count}`);
      return rebuilds[count - 1]!;
    },
    async stderrMatches(pattern, ms = 20_000) {
      await until(() => pattern.test(stderr), ms, `stderr to match ${pattern}`);
      return true;
    },
    async stop() {
      child.kill("SIGINT");
      return exited;
    },
  };
}

export const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
