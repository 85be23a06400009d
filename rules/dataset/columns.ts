/**
 * A dataset's columns as its schema declares them: which JSON types each column accepts. The
 * schema, not the look of a cell, decides how CSV text becomes a value (a digits-only `z.string()`
 * column stays a string) and which Parquet type a column is written as.
 * Pure: JSON Schema in, column descriptions out.
 */
import type { z } from "zod";

type JsonSchema = z.core.JSONSchema.JSONSchema;

/** The JSON types a column's values may have; `any` when the schema does not say (or says more than primitives). */
export type ValueType = "string" | "number" | "integer" | "boolean" | "null" | "any";

export interface ColumnSpec {
  name: string;
  types: ReadonlySet<ValueType>;
  /** May be missing from a row (not in the schema's `required`). */
  optional: boolean;
  /** The integer bounds the schema gives, when it gives both (z.int32() fits a Parquet INT32). */
  integerRange?: [number, number];
}

/** The columns of an object schema in declaration order; undefined when the schema is not an object of named properties. */
export function columnsOf(schema: JsonSchema): ColumnSpec[] | undefined {
  if (typeof schema !== "object" || schema === null) return undefined;
  const properties = schema.properties;
  if (schema.type !== "object" || typeof properties !== "object" || properties === null) return undefined;
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  return Object.entries(properties).map(([name, property]) => {
    const types = new Set<ValueType>();
    collectTypes(property, types);
    const range = integerRangeOf(property);
    return { name, types, optional: !required.has(name), ...(range ? { integerRange: range } : {}) };
  });
}

function collectTypes(schema: JsonSchema | boolean, into: Set<ValueType>): void {
  if (typeof schema !== "object" || schema === null) {
    into.add("any");
    return;
  }
  const branches = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(branches)) {
    for (const branch of branches) collectTypes(branch, into);
    return;
  }
  const declared = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type];
  if (declared.length === 0) {
    // An enum or const without a type: the types of its values.
    const values = Array.isArray(schema.enum) ? schema.enum : "const" in schema ? [schema.const] : undefined;
    if (values === undefined) into.add("any");
    else for (const value of values) into.add(typeOfValue(value));
    return;
  }
  for (const type of declared) {
    if (type === "string" || type === "number" || type === "integer" || type === "boolean" || type === "null") into.add(type);
    else into.add("any");
  }
}

function typeOfValue(value: unknown): ValueType {
  if (value === null) return "null";
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return "any";
}

function integerRangeOf(schema: JsonSchema | boolean): [number, number] | undefined {
  if (typeof schema !== "object" || schema === null) return undefined;
  const branches = (schema.anyOf ?? schema.oneOf)?.filter((b) => !(typeof b === "object" && b.type === "null"));
  if (branches && branches.length === 1) return integerRangeOf(branches[0]!);
  if (schema.type !== "integer") return undefined;
  return typeof schema.minimum === "number" && typeof schema.maximum === "number" ? [schema.minimum, schema.maximum] : undefined;
}

/**
 * What is wrong with a source's column names against the schema's columns: names the schema
 * does not have (its objects are closed), or required ones missing. One message for the whole
 * file, rather than the same problem on every row.
 */
export function sourceColumnsProblem(names: readonly string[], columns: readonly ColumnSpec[]): string | undefined {
  const declared = new Set(columns.map((column) => column.name));
  const quote = (list: readonly string[]) => list.map((name) => `"${name}"`).join(", ");
  const unknown = names.filter((name) => !declared.has(name));
  if (unknown.length > 0) {
    return `${quote(unknown)} ${unknown.length === 1 ? "is not a column" : "are not columns"} of the schema (its columns: ${quote([...declared])})`;
  }
  const present = new Set(names);
  const missing = columns.filter((column) => !column.optional && !present.has(column.name)).map((column) => column.name);
  if (missing.length > 0) return `the schema's column${missing.length === 1 ? "" : "s"} ${quote(missing)} ${missing.length === 1 ? "is" : "are"} missing`;
  return undefined;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const JSON_INTEGER = /^-?(?:0|[1-9]\d*)$/;

/**
 * How one CSV cell becomes the value its column's schema asks for, decided once per column
 * (a per-cell decision cost ~0.5 s on a 1M-row file). The schema decides:
 * - a cell listed in `nulls` (by default only the empty cell) is null where the column is
 *   nullable, and stays text where it is not (zod then says what it expected);
 * - a column that accepts numbers takes a cell in JSON number syntax as a number (an integer
 *   beyond 2^53 stays text: it would lose digits), `true`/`false` where it accepts booleans;
 * - a column that accepts only strings keeps the text as it is, digits included.
 * A column the schema does not type (`any`) gets the shape-based typing: number syntax is a
 * number, a `nulls` cell is null, anything else is text.
 */
export function cellCoercer(column: ColumnSpec, nulls: ReadonlySet<string>): (text: string) => unknown {
  const types = column.types;
  if (types.has("any")) return (text) => (nulls.has(text) ? null : (numberOf(text) ?? text));
  const nullable = types.has("null");
  const numeric = types.has("number") || types.has("integer");
  const boolean = types.has("boolean");
  if (!numeric && !boolean) return nullable ? (text) => (nulls.has(text) ? null : text) : (text) => text;
  return (text) => {
    if (nullable && nulls.has(text)) return null;
    if (numeric) {
      const value = numberOf(text);
      if (value !== undefined) return value;
    }
    if (boolean) {
      if (text === "true") return true;
      if (text === "false") return false;
    }
    return text;
  };
}

/** One cell, for tests and one-off use; a reader of many rows takes `cellCoercer` once a column. */
export function coerceCell(text: string, column: ColumnSpec, nulls: ReadonlySet<string>): unknown {
  return cellCoercer(column, nulls)(text);
}

function numberOf(text: string): number | undefined {
  if (!JSON_NUMBER.test(text)) return undefined;
  const value = Number(text);
  // Only a long integer can lose digits; test for one only when the value is not exact.
  if (!Number.isSafeInteger(value) && JSON_INTEGER.test(text)) return undefined;
  return value;
}
