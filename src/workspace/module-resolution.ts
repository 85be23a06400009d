/**
 * How BUILD.ts files and step modules see imports when kiln bundles them with esbuild:
 * local files are bundled; "kiln" is the running kiln; packages stay external, resolved the way
 * Node resolves them from the importing file, falling back to kiln's own node_modules (so a
 * BUILD.ts can import zod in a workspace with no node_modules). Externals are returned as
 * absolute paths so the bundle can live anywhere.
 */
import { builtinModules } from "node:module";
import type { Plugin } from "esbuild";
import { KILN_API_ENTRY, KILN_NODE_MODULES } from "../kiln-install.js";

const BUILTINS = new Set(builtinModules);

export function externalPackagesPlugin(): Plugin {
  return {
    name: "kiln-externals",
    setup(build) {
      build.onResolve({ filter: /^kiln$/ }, () => ({ path: KILN_API_ENTRY, external: true }));
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.kilnInner) return undefined;
        if (args.path.startsWith("node:") || BUILTINS.has(args.path.split("/")[0]!)) {
          return { path: args.path, external: true };
        }
        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: { kilnInner: true },
        });
        if (resolved.errors.length > 0) return { errors: resolved.errors };
        return { path: resolved.path, external: true };
      });
    },
  };
}

/** esbuild options shared by every bundle kiln makes of user TypeScript. */
export const USER_CODE_BUILD_OPTIONS: Pick<
  import("esbuild").BuildOptions,
  "bundle" | "platform" | "format" | "target" | "nodePaths" | "logLevel" | "write" | "metafile" | "sourcemap" | "sourcesContent" | "keepNames"
> = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  nodePaths: [KILN_NODE_MODULES],
  logLevel: "silent",
  write: false,
  metafile: true,
  sourcemap: "inline",
  sourcesContent: false,
  keepNames: true,
};
