/**
 * Labels (`//models:classifier`) and target patterns (`//...`, `//data/...`, `//data:all`): the
 * names users write for one target and for sets of targets. Parsing is strict: every accepted text
 * has exactly one canonical form, and every rejected text throws a LabelSyntaxError saying what is
 * wrong and which forms are accepted. Pure: this module knows nothing of which packages exist.
 */

/**
 * A canonical label, `//pkg:name` (the root package is `//:name`). Only {@link formatLabel} and
 * {@link canonicalLabel} make one, so a `Label` is always valid and always in canonical form.
 */
export type Label = string & { readonly __brand: "Label" };

/** A label taken apart: `pkg` is `""` for the root package, else a path such as `models` or `a/b`. */
export interface ParsedLabel {
  pkg: string;
  name: string;
}

/**
 * A target pattern: one target (`//pkg:name`, `//pkg`), every target of one package
 * (`//pkg:all`, `//pkg:*`), or every target of a package and all packages beneath it
 * (`//pkg/...`; `pkg` is `""` for `//...`).
 */
export type Pattern =
  | { kind: "label"; label: Label }
  | { kind: "package"; pkg: string }
  | { kind: "recursive"; pkg: string };

const LABEL_FORMS = "//pkg:name, :name, //pkg";
const PATTERN_FORMS = "//pkg:name, //pkg, //pkg:all, //pkg/..., //...";
const PACKAGE_SEGMENT = /^[A-Za-z0-9_.-]+$/;
const ONLY_DOTS = /^\.+$/;
const TARGET_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Target names that mean "every target of the package" in a pattern, so no target may use them. */
const PACKAGE_WILDCARDS: ReadonlySet<string> = new Set(["all", "*"]);

type Expected = "label" | "target pattern";

/**
 * Thrown for text that is not a valid label or target pattern. The message quotes the text, says
 * what is wrong and lists the accepted forms, e.g.
 * `invalid label "models:x": labels start with "//" or ":" (forms: //pkg:name, :name, //pkg)`.
 */
export class LabelSyntaxError extends Error {
  override readonly name = "LabelSyntaxError";
  /** The text as the user wrote it. */
  readonly text: string;
  /** What is wrong with it, without the surrounding quotation and list of forms. */
  readonly problem: string;

  constructor(expected: Expected, text: string, problem: string) {
    const forms = expected === "label" ? LABEL_FORMS : PATTERN_FORMS;
    super(`invalid ${expected} ${JSON.stringify(text)}: ${problem} (forms: ${forms})`);
    this.text = text;
    this.problem = problem;
  }
}

/**
 * Says what is wrong with a package path (`""` for the root, `models`, `a/b`), or returns
 * `undefined` if it is valid. Segments are `[A-Za-z0-9_.-]+`, separated by single slashes, with
 * no leading or trailing slash and no `.`/`..` segment, so each package has one spelling.
 */
export function validatePackagePath(pkg: string): string | undefined {
  if (pkg === "") return undefined;
  if (pkg.endsWith("/")) return `package path "${pkg}" ends with "/"`;
  for (const segment of pkg.split("/")) {
    if (segment === "") return `package path "${pkg}" has an empty segment`;
    if (ONLY_DOTS.test(segment)) {
      return `package path "${pkg}" has a "${segment}" segment; package paths are relative to the workspace root, without "." or ".."`;
    }
    if (!PACKAGE_SEGMENT.test(segment)) {
      return `package path "${pkg}" has a segment "${segment}" with characters other than letters, digits, "_", "." and "-"`;
    }
  }
  return undefined;
}

/**
 * Says what is wrong with a target name, or returns `undefined` if it is valid. Target names are
 * the export names of a BUILD.ts (`[A-Za-z_$][A-Za-z0-9_$]*`); `all` is reserved because
 * `//pkg:all` is the pattern for every target of a package.
 */
export function validateTargetName(name: string): string | undefined {
  if (name === "") return "the target name is empty";
  if (PACKAGE_WILDCARDS.has(name)) {
    return `":${name}" selects every target of a package, which makes it a pattern, not a label; no target may be named "${name}"`;
  }
  if (!TARGET_NAME.test(name)) {
    return `target name "${name}" is not a JavaScript export name (letters, digits, "_" and "$", not starting with a digit)`;
  }
  return undefined;
}

/**
 * Parses a label: `//pkg:name`, `//:name` (root package), `//pkg` (short for `//pkg:<last path
 * segment>`), or `:name` (a target in `currentPkg`, which must then be given). Relative package
 * paths (`pkg:name`) and patterns are rejected.
 * @throws LabelSyntaxError for anything else.
 */
export function parseLabel(text: string, currentPkg?: string): ParsedLabel {
  if (text.startsWith("//")) return parseAbsoluteLabel("label", text);
  if (text.startsWith(":")) {
    if (currentPkg === undefined) {
      throw new LabelSyntaxError(
        "label",
        text,
        `":name" names a target of the current package and there is none here; write //pkg${text}`,
      );
    }
    const packageProblem = validatePackagePath(currentPkg);
    if (packageProblem !== undefined) throw new LabelSyntaxError("label", text, packageProblem);
    return checkedLabel("label", text, currentPkg, text.slice(1));
  }
  throw new LabelSyntaxError("label", text, describeMissingSlashes(text, "labels start with \"//\" or \":\""));
}

/**
 * Formats a parsed label canonically as `//pkg:name`.
 * @throws LabelSyntaxError if the package path or target name is invalid.
 */
export function formatLabel(parsed: ParsedLabel): Label {
  const text = `//${parsed.pkg}:${parsed.name}`;
  const problem = validatePackagePath(parsed.pkg) ?? validateTargetName(parsed.name);
  if (problem !== undefined) throw new LabelSyntaxError("label", text, problem);
  return text as Label;
}

/**
 * Parses a label and returns its canonical form: `//models` becomes `//models:models`, and
 * `:x` in package `data` becomes `//data:x`.
 * @throws LabelSyntaxError as {@link parseLabel} does.
 */
export function canonicalLabel(text: string, currentPkg?: string): Label {
  return formatLabel(parseLabel(text, currentPkg));
}

/**
 * Parses a target pattern: `//...`, `//pkg/...` (also written `//pkg/...:all`), `//pkg:all`,
 * `//pkg:*` (the same as `:all`), `//pkg:name` or `//pkg`. Patterns are always absolute.
 * @throws LabelSyntaxError for anything else.
 */
export function parsePattern(text: string): Pattern {
  if (!text.startsWith("//")) {
    const problem = text.startsWith(":")
      ? `patterns are absolute; write //pkg${text}`
      : describeMissingSlashes(text, 'patterns start with "//"');
    throw new LabelSyntaxError("target pattern", text, problem);
  }
  const rest = text.slice(2);
  const colon = rest.indexOf(":");
  const packagePart = colon < 0 ? rest : rest.slice(0, colon);
  const namePart = colon < 0 ? undefined : rest.slice(colon + 1);

  if (packagePart === "..." || packagePart.endsWith("/...")) {
    const pkg = packagePart === "..." ? "" : packagePart.slice(0, -"/...".length);
    if (namePart !== undefined && !PACKAGE_WILDCARDS.has(namePart)) {
      throw new LabelSyntaxError(
        "target pattern",
        text,
        `"//${packagePart}" selects whole packages, so it cannot name the target "${namePart}"`,
      );
    }
    let packageProblem: string | undefined;
    if (packagePart !== "...") {
      packageProblem = pkg === "" ? `package path "${packagePart}" has an empty segment` : validatePackagePath(pkg);
    }
    if (packageProblem !== undefined) throw new LabelSyntaxError("target pattern", text, packageProblem);
    return { kind: "recursive", pkg };
  }
  if (namePart !== undefined && PACKAGE_WILDCARDS.has(namePart)) {
    const packageProblem = validatePackagePath(packagePart);
    if (packageProblem !== undefined) throw new LabelSyntaxError("target pattern", text, packageProblem);
    return { kind: "package", pkg: packagePart };
  }
  return { kind: "label", label: formatLabel(parseAbsoluteLabel("target pattern", text)) };
}

/** Whether the target `label` is one of those `pattern` selects. */
export function patternMatches(pattern: Pattern, label: ParsedLabel): boolean {
  switch (pattern.kind) {
    case "label":
      return pattern.label === `//${label.pkg}:${label.name}`;
    case "package":
      return label.pkg === pattern.pkg;
    case "recursive":
      return isSameOrBeneath(label.pkg, pattern.pkg);
    default: {
      const unreachable: never = pattern;
      throw new Error(`unknown pattern kind: ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * The packages (sorted, unique, taken from `allPackages`) whose BUILD.ts must be loaded to resolve
 * `pattern`. An empty result means the pattern names no existing package, which callers report
 * (with `didYouMean` from graph/suggest.ts over `allPackages`); `//...` in a workspace with no packages is empty too.
 */
export function packagesForPattern(pattern: Pattern, allPackages: readonly string[]): string[] {
  let wanted: (pkg: string) => boolean;
  switch (pattern.kind) {
    case "label": {
      const pkg = pattern.label.slice(2, pattern.label.indexOf(":"));
      wanted = (candidate) => candidate === pkg;
      break;
    }
    case "package":
      wanted = (candidate) => candidate === pattern.pkg;
      break;
    case "recursive":
      wanted = (candidate) => isSameOrBeneath(candidate, pattern.pkg);
      break;
    default: {
      const unreachable: never = pattern;
      throw new Error(`unknown pattern kind: ${JSON.stringify(unreachable)}`);
    }
  }
  return [...new Set(allPackages.filter(wanted))].sort();
}

/** Parses `//pkg:name` or `//pkg` (text starts with `//`), wording errors for `expected`. */
function parseAbsoluteLabel(expected: Expected, text: string): ParsedLabel {
  const rest = text.slice(2);
  const colon = rest.indexOf(":");
  if (colon < 0) {
    if (rest === "") {
      throw new LabelSyntaxError(expected, text, '"//" names the root package but no target; write //:name');
    }
    if (rest === "..." || rest.endsWith("/...")) {
      throw new LabelSyntaxError(expected, text, `"${text}" selects every package beneath it, which makes it a pattern, not a label`);
    }
    const packageProblem = validatePackagePath(rest);
    if (packageProblem !== undefined) throw new LabelSyntaxError(expected, text, packageProblem);
    const lastSegment = rest.slice(rest.lastIndexOf("/") + 1);
    if (!TARGET_NAME.test(lastSegment) || PACKAGE_WILDCARDS.has(lastSegment)) {
      throw new LabelSyntaxError(
        expected,
        text,
        `"${text}" is short for "${text}:${lastSegment}", but "${lastSegment}" is not a target name; write //${rest}:name`,
      );
    }
    return { pkg: rest, name: lastSegment };
  }
  const pkg = rest.slice(0, colon);
  const name = rest.slice(colon + 1);
  if (name.includes(":")) throw new LabelSyntaxError(expected, text, 'there is more than one ":"');
  const packageProblem = validatePackagePath(pkg);
  if (packageProblem !== undefined) throw new LabelSyntaxError(expected, text, packageProblem);
  return checkedLabel(expected, text, pkg, name);
}

function checkedLabel(expected: Expected, text: string, pkg: string, name: string): ParsedLabel {
  const nameProblem = validateTargetName(name);
  if (nameProblem !== undefined) throw new LabelSyntaxError(expected, text, nameProblem);
  return { pkg, name };
}

/** The problem for text missing its leading `//`, with a note for `@source` references. */
function describeMissingSlashes(text: string, rule: string): string {
  if (text === "") return `the text is empty; ${rule}`;
  if (text.startsWith("@")) return `${rule}; "${text}" names a source, which belongs in srcs`;
  return rule;
}

/** Whether package `pkg` is `ancestor` or lies beneath it (`""` is the root, above everything). */
function isSameOrBeneath(pkg: string, ancestor: string): boolean {
  return ancestor === "" || pkg === ancestor || pkg.startsWith(`${ancestor}/`);
}
