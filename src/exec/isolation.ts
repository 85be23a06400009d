/**
 * How `cmd` steps are isolated in one build: chosen once (at the first cmd step that runs), then
 * turned into what a command is started under. The local executor asks only these two
 * questions; how a namespace is made (bwrap, or util-linux's unshare) stays behind them.
 */
import { join } from "node:path";
import type { Reporter } from "../events.js";
import { bwrapArguments, probeBwrap, systemBindings, type SandboxChoice } from "./namespace-sandbox.js";
import { probeUnshare, type UnshareTools } from "./unshare-sandbox.js";

/**
 * The sandbox `cmd` steps get: bwrap (with the host's system bindings), a reused namespace per
 * helper shell made with unshare, or the directory alone (`unavailable`: a namespace was
 * required and none could be made, and why).
 */
export type Isolation =
  | { mode: "bwrap"; bwrap: string; system: string[] }
  | { mode: "unshare"; tools: UnshareTools; scratchDir: string }
  | { mode: "dir"; unavailable?: string };

/** The prefix of the warning a non-hermetic build prints (tests and `kiln doctor` name it). */
export const NOT_HERMETIC = "NOT HERMETIC:";

/**
 * `auto`: a namespace sandbox if one can be made here, else the directory sandbox with a loud
 * warning. Which namespace: unshare's reused namespaces where they work (they cost a job two
 * renames, bwrap a namespace and a dozen mounts a command: bench/RESULTS.md), else bwrap.
 * `bwrap`, `unshare`: that one or fail; `strict`: any namespace or fail. A failure makes every
 * cmd step fail saying why (exit 2).
 */
export function chooseIsolation(choice: SandboxChoice, scratchDir: string, hostPath: string | undefined, reporter: Reporter): Isolation {
  if (choice === "dir") return { mode: "dir" };
  const problems: string[] = [];
  if (choice !== "bwrap") {
    const unshare = probeUnshare(scratchDir, hostPath);
    if (!("problem" in unshare)) return { mode: "unshare", tools: unshare, scratchDir };
    problems.push(unshare.problem);
  }
  if (choice !== "unshare") {
    const probe = probeBwrap(scratchDir, hostPath);
    if ("bwrap" in probe) return { mode: "bwrap", bwrap: probe.bwrap, system: systemBindings() };
    problems.push(probe.problem);
  }
  const problem = problems.join("; ");
  if (choice !== "auto") return { mode: "dir", unavailable: `--sandbox=${choice}, but the namespace sandbox is unavailable here: ${problem}` };
  reporter({
    type: "warning",
    message:
      `${NOT_HERMETIC} no namespace sandbox can be made here (${problem}): cmd steps run in the directory sandbox, ` +
      "which does not hide the rest of the machine or the network. `kiln doctor` says why and how to fix it; --sandbox=strict refuses to build like this",
  });
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

/** A command run by a helper living in a namespace of its own (see unshare-sandbox.ts). */
export interface NamespaceLaunch {
  kind: "namespace";
  tools: UnshareTools;
  /** Where the view's skeleton and the helpers' fstabs live. */
  scratchDir: string;
  toolRoots: readonly string[];
  network: boolean;
}

/** What a command is started under: a wrapper argv (program first), a namespace helper, or nothing. */
export type CommandLaunch = readonly string[] | NamespaceLaunch | undefined;

export function commandWrapper(isolation: Isolation, view: CommandView): CommandLaunch {
  switch (isolation.mode) {
    case "bwrap":
      return [isolation.bwrap, ...bwrapArguments({ system: isolation.system, ...view })];
    case "unshare":
      return { kind: "namespace", tools: isolation.tools, scratchDir: isolation.scratchDir, toolRoots: view.tools, network: view.network };
    case "dir":
      return undefined;
  }
}

/** The view's skeleton directory under a build's scratch dir. */
export const skeletonDir = (scratchDir: string) => join(scratchDir, "ns-view");
