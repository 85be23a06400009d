import { describe, expect, it } from "vitest";
import {
  LabelSyntaxError,
  canonicalLabel,
  formatLabel,
  packagesForPattern,
  parseLabel,
  parsePattern,
  patternMatches,
  validatePackagePath,
  validateTargetName,
  type Label,
} from "./label.js";

function labelError(text: string, currentPkg?: string): string {
  try {
    parseLabel(text, currentPkg);
  } catch (error) {
    expect(error).toBeInstanceOf(LabelSyntaxError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

function patternError(text: string): string {
  try {
    parsePattern(text);
  } catch (error) {
    expect(error).toBeInstanceOf(LabelSyntaxError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

describe("parseLabel", () => {
  it("parses absolute labels", () => {
    expect(parseLabel("//models:classifier")).toEqual({ pkg: "models", name: "classifier" });
    expect(parseLabel("//a/b-c/d.e:$x_1")).toEqual({ pkg: "a/b-c/d.e", name: "$x_1" });
    expect(parseLabel("//:root")).toEqual({ pkg: "", name: "root" });
  });

  it("reads //pkg as //pkg:<last segment>", () => {
    expect(parseLabel("//models")).toEqual({ pkg: "models", name: "models" });
    expect(parseLabel("//data/raw")).toEqual({ pkg: "data/raw", name: "raw" });
  });

  it("resolves :name against the current package", () => {
    expect(parseLabel(":train", "models")).toEqual({ pkg: "models", name: "train" });
    expect(parseLabel(":train", "")).toEqual({ pkg: "", name: "train" });
  });

  it("rejects relative package paths, with the accepted forms", () => {
    expect(labelError("models:x")).toBe(
      'invalid label "models:x": labels start with "//" or ":" (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("classifier")).toBe(
      'invalid label "classifier": labels start with "//" or ":" (forms: //pkg:name, :name, //pkg)',
    );
  });

  it("explains each kind of mistake", () => {
    expect(labelError("")).toBe(
      'invalid label "": the text is empty; labels start with "//" or ":" (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("@penguins")).toBe(
      'invalid label "@penguins": labels start with "//" or ":"; "@penguins" names a source, which belongs in srcs (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError(":x")).toBe(
      'invalid label ":x": ":name" names a target of the current package and there is none here; write //pkg:x (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//")).toBe(
      'invalid label "//": "//" names the root package but no target; write //:name (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//a:b:c")).toBe(
      'invalid label "//a:b:c": there is more than one ":" (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//a/:x")).toBe(
      'invalid label "//a/:x": package path "a/" ends with "/" (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//a//b:x")).toBe(
      'invalid label "//a//b:x": package path "a//b" has an empty segment (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("///a:x")).toBe(
      'invalid label "///a:x": package path "/a" has an empty segment (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//a/../b:x")).toBe(
      'invalid label "//a/../b:x": package path "a/../b" has a ".." segment; package paths are relative to the workspace root, without "." or ".." (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//my pkg:x")).toBe(
      'invalid label "//my pkg:x": package path "my pkg" has a segment "my pkg" with characters other than letters, digits, "_", "." and "-" (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//a:1x")).toBe(
      'invalid label "//a:1x": target name "1x" is not a JavaScript export name (letters, digits, "_" and "$", not starting with a digit) (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//a:")).toBe(
      'invalid label "//a:": the target name is empty (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//my-pkg")).toBe(
      'invalid label "//my-pkg": "//my-pkg" is short for "//my-pkg:my-pkg", but "my-pkg" is not a target name; write //my-pkg:name (forms: //pkg:name, :name, //pkg)',
    );
  });

  it("rejects patterns where one target is meant", () => {
    expect(labelError("//...")).toBe(
      'invalid label "//...": "//..." selects every package beneath it, which makes it a pattern, not a label (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//data/...")).toBe(
      'invalid label "//data/...": "//data/..." selects every package beneath it, which makes it a pattern, not a label (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError("//data:all")).toBe(
      'invalid label "//data:all": ":all" selects every target of a package, which makes it a pattern, not a label; no target may be named "all" (forms: //pkg:name, :name, //pkg)',
    );
    expect(labelError(":*", "data")).toBe(
      'invalid label ":*": ":*" selects every target of a package, which makes it a pattern, not a label; no target may be named "*" (forms: //pkg:name, :name, //pkg)',
    );
  });
});

describe("formatLabel and canonicalLabel", () => {
  it("formats canonically, with //:name for the root package", () => {
    expect(formatLabel({ pkg: "models", name: "classifier" })).toBe("//models:classifier");
    expect(formatLabel({ pkg: "", name: "x" })).toBe("//:x");
    expect(canonicalLabel("//models")).toBe("//models:models");
    expect(canonicalLabel(":x", "a/b")).toBe("//a/b:x");
  });

  it("round-trips through parseLabel", () => {
    for (const text of ["//a:b", "//:c", "//a/b.c/d-e:_f$"]) {
      expect(formatLabel(parseLabel(text))).toBe(text);
    }
  });

  it("refuses to format an invalid label", () => {
    expect(() => formatLabel({ pkg: "a/", name: "x" })).toThrow(
      'invalid label "//a/:x": package path "a/" ends with "/" (forms: //pkg:name, :name, //pkg)',
    );
    expect(() => formatLabel({ pkg: "a", name: "my-name" })).toThrow(LabelSyntaxError);
  });
});

describe("validatePackagePath and validateTargetName", () => {
  it("accept valid names", () => {
    expect(validatePackagePath("")).toBeUndefined();
    expect(validatePackagePath("a/b.c/_d-e")).toBeUndefined();
    expect(validateTargetName("default")).toBeUndefined();
    expect(validateTargetName("$")).toBeUndefined();
  });

  it("describe invalid names", () => {
    expect(validatePackagePath("./a")).toBe(
      'package path "./a" has a "." segment; package paths are relative to the workspace root, without "." or ".."',
    );
    expect(validateTargetName("all")).toBe(
      '":all" selects every target of a package, which makes it a pattern, not a label; no target may be named "all"',
    );
  });
});

describe("parsePattern", () => {
  it("parses every form", () => {
    expect(parsePattern("//...")).toEqual({ kind: "recursive", pkg: "" });
    expect(parsePattern("//data/...")).toEqual({ kind: "recursive", pkg: "data" });
    expect(parsePattern("//a/b/...")).toEqual({ kind: "recursive", pkg: "a/b" });
    expect(parsePattern("//a/...:all")).toEqual({ kind: "recursive", pkg: "a" });
    expect(parsePattern("//...:*")).toEqual({ kind: "recursive", pkg: "" });
    expect(parsePattern("//data:all")).toEqual({ kind: "package", pkg: "data" });
    expect(parsePattern("//data:*")).toEqual({ kind: "package", pkg: "data" });
    expect(parsePattern("//:all")).toEqual({ kind: "package", pkg: "" });
    expect(parsePattern("//models:classifier")).toEqual({ kind: "label", label: "//models:classifier" });
    expect(parsePattern("//models")).toEqual({ kind: "label", label: "//models:models" });
  });

  it("explains what is wrong", () => {
    expect(patternError("models:x")).toBe(
      'invalid target pattern "models:x": patterns start with "//" (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
    );
    expect(patternError(":x")).toBe(
      'invalid target pattern ":x": patterns are absolute; write //pkg:x (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
    );
    expect(patternError("...")).toBe(
      'invalid target pattern "...": patterns start with "//" (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
    );
    expect(patternError("//a/...:x")).toBe(
      'invalid target pattern "//a/...:x": "//a/..." selects whole packages, so it cannot name the target "x" (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
    );
    expect(patternError("///...")).toBe(
      'invalid target pattern "///...": package path "/..." has an empty segment (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
    );
    expect(patternError("//a/../...")).toBe(
      'invalid target pattern "//a/../...": package path "a/.." has a ".." segment; package paths are relative to the workspace root, without "." or ".." (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
    );
    expect(patternError("//a/:all")).toBe(
      'invalid target pattern "//a/:all": package path "a/" ends with "/" (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
    );
    expect(patternError("//a:b-c")).toBe(
      'invalid target pattern "//a:b-c": target name "b-c" is not a JavaScript export name (letters, digits, "_" and "$", not starting with a digit) (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
    );
    expect(patternError("//")).toBe(
      'invalid target pattern "//": "//" names the root package but no target; write //:name (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
    );
  });
});

describe("patternMatches", () => {
  const label = (pkg: string, name: string) => ({ pkg, name });

  it("matches one label exactly", () => {
    const pattern = parsePattern("//a:x");
    expect(patternMatches(pattern, label("a", "x"))).toBe(true);
    expect(patternMatches(pattern, label("a", "y"))).toBe(false);
    expect(patternMatches(pattern, label("a/b", "x"))).toBe(false);
  });

  it("matches every target of one package, not those beneath it", () => {
    const pattern = parsePattern("//a:all");
    expect(patternMatches(pattern, label("a", "x"))).toBe(true);
    expect(patternMatches(pattern, label("a/b", "x"))).toBe(false);
    expect(patternMatches(parsePattern("//:all"), label("", "x"))).toBe(true);
    expect(patternMatches(parsePattern("//:all"), label("a", "x"))).toBe(false);
  });

  it("matches a package and all beneath it, by whole segments", () => {
    const pattern = parsePattern("//a/...");
    expect(patternMatches(pattern, label("a", "x"))).toBe(true);
    expect(patternMatches(pattern, label("a/b/c", "x"))).toBe(true);
    expect(patternMatches(pattern, label("ab", "x"))).toBe(false);
    expect(patternMatches(pattern, label("", "x"))).toBe(false);
    expect(patternMatches(parsePattern("//..."), label("", "x"))).toBe(true);
    expect(patternMatches(parsePattern("//..."), label("z/y", "x"))).toBe(true);
  });
});

describe("packagesForPattern", () => {
  const packages = ["models", "data", "", "data/raw", "database", "data"];

  it("lists the packages to load, sorted and unique", () => {
    expect(packagesForPattern(parsePattern("//..."), packages)).toEqual(["", "data", "data/raw", "database", "models"]);
    expect(packagesForPattern(parsePattern("//data/..."), packages)).toEqual(["data", "data/raw"]);
    expect(packagesForPattern(parsePattern("//data:all"), packages)).toEqual(["data"]);
    expect(packagesForPattern(parsePattern("//data/raw:penguins"), packages)).toEqual(["data/raw"]);
    expect(packagesForPattern(parsePattern("//:x"), packages)).toEqual([""]);
  });

  it("is empty when the pattern names no existing package", () => {
    expect(packagesForPattern(parsePattern("//nope:x"), packages)).toEqual([]);
    expect(packagesForPattern(parsePattern("//nope/..."), packages)).toEqual([]);
  });

  it("accepts the branded label type", () => {
    const pattern = { kind: "label", label: "//models:classifier" as Label } as const;
    expect(packagesForPattern(pattern, packages)).toEqual(["models"]);
  });
});
