/**
 * User errors are values with a kind; the kind decides the exit code.
 *   input       -> exit 2: the request or the workspace is wrong (bad pattern, BUILD.ts error, cycle)
 *   action      -> exit 1: a step or test failed
 *   environment -> exit 2: the machine is in the way (disk full, cache dir not writable, tool
 *                  missing): nothing the user's steps did, and rerunning as is will not help
 * An fs error with an environment errno (see isEnvironmentError) is reported as one too, naming
 * its path. Anything else that escapes is a bug in kiln and is reported as such.
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
    case "environment":
      return 2;
    case "action":
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

/** errno codes that mean the machine is in the way, not that kiln or the user's data is wrong. */
const ENVIRONMENT_CODES = new Set(["EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "ENOTDIR", "EMFILE", "ENFILE", "ENOMEM", "EIO"]);

/** True for an error caused by the environment (permissions, a read-only or full file system, I/O). */
export function isEnvironmentError(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === "string" && ENVIRONMENT_CODES.has(code)) return true;
  // LMDB's errors carry a numeric code and strerror's text.
  const message = error instanceof Error ? error.message : String(error);
  return /No space left on device|Permission denied|Read-only file system|Disk quota exceeded|Input\/output error/i.test(message);
}

/** An error as one line: its errno code and text, without the path Node appends (callers name it). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  // Node appends ", <syscall> '<path>'"; LMDB ": Attempting to write page at position ...".
  const text = error.message.split("\n")[0]!.replace(/, [a-z]+ '.*$/, "").replace(/: Attempting to .*$/, "");
  return typeof code === "string" && !text.startsWith(code) ? `${code}: ${text}` : text;
}

/** Why a file operation failed, in words; ENOENT during a build means something removed the file. */
const FILE_FAULTS: Record<string, string> = {
  ENOENT: "no such file or directory (was it removed during the build?)",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  EIO: "input/output error",
};

/** True for a failed file operation (a Node error with an errno code and a syscall), environment errors included. */
export function isFileFault(error: unknown): error is NodeJS.ErrnoException {
  const failure = error as NodeJS.ErrnoException | undefined;
  return (typeof failure?.code === "string" && typeof failure.syscall === "string") || isEnvironmentError(error);
}

/**
 * A failed file operation as one line naming the call, the path (and the destination of a copy
 * or link) and the cause: "kiln could not copyfile a -> b: no space left on the device". A
 * KilnError is already worded for the user and stays as it is.
 */
export function describeFileFault(error: unknown): string {
  if (error instanceof KilnError) return error.message;
  const failure = error as NodeJS.ErrnoException;
  if (!failure?.code || !failure.syscall) return describeError(error);
  const dest = (failure as { dest?: string }).dest;
  const where = failure.path ? ` ${failure.path}${dest ? ` -> ${dest}` : ""}` : "";
  return `kiln could not ${failure.syscall}${where}: ${FILE_FAULTS[failure.code] ?? failure.code}`;
}

/** Several problems become one error whose message lists them all, each with its location. */
export function combineProblems(problems: KilnError[]): KilnError {
  if (problems.length === 1) return problems[0]!;
  const lines = problems.map((p) => (p.location ? `${p.location.file}:${p.location.line}: ${p.message}` : p.message));
  return inputError(`${problems.length} problems:\n  ${lines.join("\n  ")}`);
}
