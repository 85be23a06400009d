/**
 * Rules are functions that return a target declaration. The declaration keeps the raw attributes
 * and the rule's zod schema: the loader validates them knowing the label and the BUILD.ts line,
 * so an error can name both. `lower` turns validated attributes into an ActionSpec.
 */
import type { z } from "zod";
import type { ActionSpec } from "./action-spec.js";

export const TARGET_TAG = "kiln.target/v1";

export interface TargetDeclaration {
  readonly $kiln: typeof TARGET_TAG;
  readonly rule: string;
  readonly attrs: unknown;
  readonly schema: z.ZodType;
  readonly lower: (attrs: any) => ActionSpec;
}

/**
 * Define a rule from a zod schema for its attributes and a function lowering them to a primitive.
 * Users write their own rules this way, or plain functions that return `step(...)`/`cmd(...)`.
 */
export function defineRule<S extends z.ZodType>(
  rule: string,
  schema: S,
  lower: (attrs: z.output<S>) => ActionSpec,
): (attrs: z.input<S>) => TargetDeclaration {
  return (attrs) => ({ $kiln: TARGET_TAG, rule, attrs, schema, lower });
}

export function isTargetDeclaration(value: unknown): value is TargetDeclaration {
  return typeof value === "object" && value !== null && (value as { $kiln?: unknown }).$kiln === TARGET_TAG;
}
