/** `run: "./train.ts#train"` (relative to the package) or `kiln:<path in kiln's dist>#name` for built-in rules. */
import { join } from "node:path";
import { kilnDistFile } from "../kiln-install.js";

export interface RunReference {
  /** Absolute path of the module's entry file. */
  entry: string;
  exportName: string;
}

export function resolveRunReference(root: string, pkg: string, run: string): RunReference {
  const hash = run.lastIndexOf("#");
  const module = run.slice(0, hash);
  const exportName = run.slice(hash + 1);
  if (module.startsWith("kiln:")) return { entry: kilnDistFile(module.slice("kiln:".length)), exportName };
  return { entry: join(root, pkg, module), exportName };
}
