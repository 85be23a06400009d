/** The `//:typecheck` step: TypeScript's compiler over the sandbox's copy of the tree. */
import { writeFileSync } from "node:fs";
import { dirname } from "node:path";
import ts from "typescript";
import type { StepContext } from "kiln";

export function typecheck(ctx: StepContext): void {
  const configPath = ctx.srcs.config as string;
  const root = dirname(configPath);
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const program = ts.createProgram(parsed.fileNames, { ...parsed.options, noEmit: true });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => root,
    getNewLine: () => "\n",
  };
  if (diagnostics.length > 0) throw new Error(ts.formatDiagnostics(diagnostics, host));
  writeFileSync(ctx.out("typecheck.txt"), `${parsed.fileNames.length} files, no errors (TypeScript ${ts.version})\n`);
}
