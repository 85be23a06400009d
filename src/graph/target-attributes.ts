/**
 * A target's attributes as `attr()` in `kiln query` sees them: strings, one per list element.
 * `srcs` gives every source reference, `srcs.NAME` those of one input, `env` gives `NAME=value`,
 * `params.a.b` the value at that path of the params (JSON text unless a string). Pure.
 */
import type { ActionSpec, Json } from "../api/action-spec.js";

const text = (value: Json | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value.map((v) => (typeof v === "string" ? v : JSON.stringify(v))) : [typeof value === "string" ? value : JSON.stringify(value)]);

export function attributeValues(spec: ActionSpec, name: string): string[] {
  const [head, ...rest] = name.split(".");
  switch (head) {
    case "rule":
    case "action":
    case "cmd":
    case "run":
      return rest.length === 0 && spec[head] !== undefined ? [String(spec[head])] : [];
    case "outs":
    case "tools":
    case "passEnv":
      return rest.length === 0 ? [...(spec[head] ?? [])] : [];
    case "network":
    case "test":
      return rest.length === 0 ? [String(spec[head] === true)] : [];
    case "env":
      return Object.entries(spec.env ?? {})
        .filter(([key]) => rest.length === 0 || key === rest.join("."))
        .map(([key, value]) => (rest.length === 0 ? `${key}=${value}` : value));
    case "srcs":
      return rest.length === 0 ? Object.values(spec.srcs).flat() : [...(spec.srcs[rest.join(".")] ?? [])];
    case "params": {
      let value: Json | undefined = spec.params;
      for (const key of rest) value = value !== null && typeof value === "object" && !Array.isArray(value) ? value[key] : undefined;
      return text(value);
    }
    default:
      return [];
  }
}
