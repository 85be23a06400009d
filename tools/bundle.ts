/** The `//:bundle` step: the CLI as a single ES module, packages external. */
import { dirname, join } from "node:path";
import { build } from "esbuild";
import type { StepContext } from "kiln";

export async function bundle(ctx: StepContext): Promise<void> {
  const root = dirname(ctx.srcs.manifest as string);
  await build({
    entryPoints: [join(root, "src/cli/main.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    outfile: ctx.out("kiln.mjs"),
    logLevel: "silent",
  });
}
