/**
 * Host programs a `cmd` declares in `tools`: found on the host PATH, linked into the sandbox's
 * own bin directory (the sandbox PATH is fixed), identified by name and version line. The version
 * enters the key; the host path does not, so two machines with the same python3 share results.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { KilnError } from "../errors.js";

export interface Tool {
  name: string;
  path: string;
  version: string;
}

export function resolveTool(name: string, hostPath: string | undefined): Tool {
  for (const dir of (hostPath ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    return { name, path: candidate, version: versionOf(candidate) };
  }
  throw new KilnError("environment", `tool "${name}" was not found on PATH (${hostPath ?? "unset"})`);
}

function versionOf(path: string): string {
  const probe = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 10_000 });
  const text = `${probe.stdout ?? ""}\n${probe.stderr ?? ""}`;
  return text.split("\n").map((line) => line.trim()).find((line) => line.length > 0) ?? "unknown version";
}
