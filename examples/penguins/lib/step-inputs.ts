/**
 * Picking files out of `ctx.srcs`. An input is one path for a single file, or a list for a target
 * with several outputs (sorted by path), so steps pick those by file name rather than position.
 */
import { basename } from "node:path";
import type { StepContext } from "kiln";

/** The one file behind input `name`; fails if the input is several files. */
export function singleInput(ctx: StepContext, name: string): string {
  const value = ctx.srcs[name];
  if (typeof value === "string") return value;
  if (value?.length === 1) return value[0]!;
  throw new Error(`${ctx.label}: input "${name}" should be one file, but it is ${describe(value)}`);
}

/** The file called `fileName` among the files of input `name`. */
export function inputNamed(ctx: StepContext, name: string, fileName: string): string {
  const value = ctx.srcs[name];
  const paths = typeof value === "string" ? [value] : (value ?? []);
  const found = paths.find((path) => basename(path) === fileName);
  if (found !== undefined) return found;
  throw new Error(`${ctx.label}: input "${name}" has no file ${fileName} (it has ${describe(value)})`);
}

function describe(value: string | readonly string[] | undefined): string {
  if (value === undefined) return "not declared";
  if (typeof value === "string") return basename(value);
  return value.length === 0 ? "no files" : value.map((path) => basename(path)).join(", ");
}
