/**
 * kiln builds kiln, dogfooding the tool: `bin/kiln.cjs build //:typecheck //:bundle`.
 * Both are hermetic steps: their sandboxes hold the sources and, for the typecheck, the type
 * declarations of the packages kiln imports, named here.
 */
import { step } from "kiln";

const sources = ["src/**/*.ts", "rules/**/*.ts"];
/** Declarations (and package.json files, which say where they are) of the packages the sources import. */
const declarations = [
  "node_modules/{@types/node,undici-types,zod,commander,piscina,lmdb,esbuild,tinyglobby,fdir,picomatch,chokidar,readdirp,hash-wasm,msgpackr}/**/*.{d.ts,d.cts,d.mts}",
  "node_modules/{@types/node,undici-types,zod,commander,piscina,lmdb,esbuild,tinyglobby,fdir,picomatch,chokidar,readdirp,hash-wasm,msgpackr}/package.json",
];

/** typecheck.txt: the TypeScript compiler's verdict on src/ and rules/ (fails on any error). */
export const typecheck = step({
  srcs: { sources, config: "tsconfig.json", declarations },
  outs: ["typecheck.txt"],
  run: "./tools/typecheck.ts#typecheck",
});

/** kiln.mjs: the CLI as one ES module (packages stay external), as a release would ship it. */
export const bundle = step({
  srcs: { sources, manifest: "package.json" },
  outs: ["kiln.mjs"],
  run: "./tools/bundle.ts#bundle",
});
