/**
 * The public API: what `import ... from "kiln"` gives a BUILD.ts, a WORKSPACE.ts or a step module.
 */
export { workspace, source } from "./workspace.js";
export type { WorkspaceDeclaration, SourceDeclaration } from "./workspace.js";
export { defineRule, isTargetDeclaration } from "./rule.js";
export type { TargetDeclaration } from "./rule.js";
export type { ActionSpec, Json, DatasetIndex, JoinDeclaration } from "./action-spec.js";
export type { StepContext, StepFunction, ParquetReadOptions, ParquetRowBatch } from "./step-context.js";
export { step, cmd, files, test, dataset } from "../../rules/index.js";
