/**
 * How `cmd` steps are isolated in one build: chosen once (at the first cmd step that runs), then
 * turned into the wrapper argv a command is started under. The local executor asks only these
 * two questions; how a namespace is made (bwrap today) stays behind them.
 */
import type { Reporter } from "../events.js";
import { bwrapArguments, probeBwrap, systemBindings, type SandboxChoice } from "./namespace-sandbox.js";

/** The sandbox `cmd` steps get: bwrap (with the host's system bindings) or the directory alone. */
export type Isolation = { mode: "bwrap"; bwrap: string; system: string[] } | { mode: "dir"; unavailable?: string };

/**
 * `auto`: bwrap if it can start a command here, else the directory sandbox with one warning.
 * `bwrap` where it cannot start: every cmd step fails saying why (exit 2).
 */
export function chooseIsolation(choice: SandboxChoice, scratchDir: string, hostPath: string | undefined, reporter: Reporter): Isolation {
  if (choice === "dir") return { mode: "dir" };
  const probe = probeBwrap(scratchDir, hostPath);
  if ("bwrap" in probe) return { mode: "bwrap", bwrap: probe.bwrap, system: systemBindings() };
  const problem = probe.problem;
  if (choice === "bwrap") return { mode: "dir", unavailable: problem };
  reporter({ type: "warning", message: `the namespace sandbox is unavailable (${problem}): cmd steps run in the directory sandbox, which does not hide the rest of the machine` });
  return { mode: "dir" };
}

/** What one command's view is made of (see namespace-sandbox.ts for what each means). */
export interface CommandView {
  sandboxDir: string;
  /** Writable inside: $OUT and the sandbox's HOME/TMPDIR. */
  writable: readonly string[];
  /** Install roots of declared tools. */
  tools: readonly string[];
  network: boolean;
}

/** The argv a command is started under (program first), or undefined to start it as it is. */
export function commandWrapper(isolation: Isolation, view: CommandView): string[] | undefined {
  if (isolation.mode !== "bwrap") return undefined;
  return [isolation.bwrap, ...bwrapArguments({ system: isolation.system, ...view })];
}
