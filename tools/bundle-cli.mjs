#!/usr/bin/env node
// `npm run build`, after tsc: the CLI as two CommonJS bundles in dist/cli/, which bin/kiln.cjs loads
// instead of the ~50 ES modules tsc emits (measured in bench/README.md, "Start-up").
//   up-to-date.cjs  the no-op fast path alone (src/cli/up-to-date.ts): a small file to compile, so
//                   an unchanged build loads almost nothing but what checking its stamp needs
//   kiln.cjs        the whole CLI (src/cli/main.ts), loaded only when the fast path did not answer
// CommonJS because Node's ES module wrapper of a builtin reads every export, so importing node:fs
// as ESM also loads fs/promises, streams and readline (~1.5 ms); require() does not.
// Each bundle has its own copy of the modules both use. bin/kiln.cjs hands main() the fast path's
// outcome (src/cli/up-to-date.ts, UpToDateOutcome: plain data and one closure, including what the
// stamp check found changed), so no state has to cross through the modules themselves.
// External, loaded from node_modules when needed: lmdb (native), esbuild (spawns its binary),
// chokidar, @bufbuild/protobuf (needed only with a remote cache: ~190 KB the bundle would parse on
// every start), and commander (needed only off the fast path; in the bundle it would cost every run
// ~1.4 ms of compiling). The step runner is not bundled: step-pool.ts starts Node on
// dist/src/exec/step-runner.js, which tsc emits. BUILD.ts files import "kiln" as
// dist/src/api/index.js, another copy of the api modules: the CLI recognises what they return by
// tags (TARGET_TAG, WORKSPACE_TAG), never by instanceof, so the copies are harmless.
import { build } from "esbuild";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = join(root, "dist/cli");

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { "up-to-date": "src/cli/up-to-date.ts", kiln: "src/cli/main.ts" },
  outdir,
  outExtension: { ".js": ".cjs" },
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  external: ["lmdb", "esbuild", "chokidar", "commander", "@bufbuild/protobuf"],
  // import.meta does not exist in CommonJS; the code uses only import.meta.url (kiln-install.ts
  // finds the package root from it; local-store.ts requires lmdb relative to it).
  define: { "import.meta.url": "kilnBundleUrl" },
  banner: { js: 'const kilnBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  sourcemap: "linked",
  sourcesContent: false,
  logLevel: "warning",
});
// A warning here (an import.meta property other than url, a require esbuild cannot follow) is a
// CLI that breaks at run time: fail the build instead.
if (result.warnings.length > 0) process.exit(1);
