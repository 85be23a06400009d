/**
 * User errors are values with a kind; the kind decides the exit code.
 *   input       -> exit 2: the request or the workspace is wrong (bad pattern, BUILD.ts error, cycle)
 *   action      -> exit 1: a step or test failed
 *   environment -> exit 1: the machine is in the way (disk full, tool missing)
 * Anything else that escapes is a bug in kiln and is reported as such.
 */
export type ErrorKind = "input" | "action" | "environment";

export interface SourceLocation {
  file: string; // workspace-relative path
  line: number;
  column?: number;
}

export class KilnError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly location?: SourceLocation,
    readonly label?: string,
  ) {
    super(message);
    this.name = "KilnError";
  }
}

export function inputError(message: string, location?: SourceLocation, label?: string): KilnError {
  return new KilnError("input", message, location, label);
}

export function exitCodeFor(kind: ErrorKind): number {
  switch (kind) {
    case "input":
      return 2;
    case "action":
    case "environment":
      return 1;
    default: {
      const unreachable: never = kind;
      return unreachable;
    }
  }
}

/** `file:line:col: message` — the one place the location prefix is formatted. */
export function formatError(error: KilnError): string {
  const where = error.location
    ? `${error.location.file}:${error.location.line}${error.location.column ? `:${error.location.column}` : ""}: `
    : "";
  return `${where}${error.message}`;
}
