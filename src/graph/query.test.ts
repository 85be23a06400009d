import { describe, expect, it } from "vitest";
import { evaluateQuery, parseQuery, QuerySyntaxError, type QueryGraph } from "./query.js";
import { parseLabel, parsePattern, patternMatches } from "../workspace/label.js";

/**
 * penguins <- clean <- split <- train <- classifier <- eval_test
 *             clean <------------------- classifier
 *                      split <-------------------------- eval_test
 * plus two loose targets, //tools:fmt and //docs:files.
 */
const TARGETS: Record<string, { kind: string; deps: string[] }> = {
  "//data/raw:penguins": { kind: "dataset", deps: [] },
  "//data:clean": { kind: "step", deps: ["//data/raw:penguins"] },
  "//data:split": { kind: "cmd", deps: ["//data:clean"] },
  "//models:train": { kind: "step", deps: ["//data:split"] },
  "//models:classifier": { kind: "step", deps: ["//models:train", "//data:clean"] },
  "//models:eval_test": { kind: "test", deps: ["//models:classifier", "//data:split"] },
  "//tools:fmt": { kind: "cmd", deps: [] },
  "//docs:files": { kind: "files", deps: [] },
};

/** Attributes for attr(): `tools` of the cmd targets, `params.lr` of the train step. */
const ATTRIBUTES: Record<string, Record<string, string[]>> = {
  "//data:split": { tools: ["python3", "jq"], cmd: ["python3 split.py"] },
  "//tools:fmt": { tools: ["prettier"], cmd: ["prettier --write ."] },
  "//models:train": { "params.lr": ["0.01"] },
};

const graph: QueryGraph = {
  allLabels: () => Object.keys(TARGETS),
  depsOf: (label) => TARGETS[label]!.deps,
  kindOf: (label) => TARGETS[label]!.kind,
  attributeOf: (label, name) => ATTRIBUTES[label]?.[name] ?? [],
};

function resolvePattern(text: string): string[] {
  const pattern = parsePattern(text);
  const labels = graph.allLabels().filter((label) => patternMatches(pattern, parseLabel(label)));
  if (labels.length === 0) throw new Error(`no targets match ${text}`);
  return labels;
}

function query(text: string): string[] {
  return evaluateQuery(parseQuery(text), graph, resolvePattern);
}

function syntaxError(text: string): string {
  try {
    parseQuery(text);
  } catch (error) {
    expect(error).toBeInstanceOf(QuerySyntaxError);
    return (error as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

describe("evaluateQuery", () => {
  it("somepath(a, b): one shortest dependency path, both ends included, the same every time", () => {
    // classifier reaches clean directly and through train <- split: the direct edge is shorter.
    expect(query("somepath(//models:classifier, //data:clean)")).toEqual(["//data:clean", "//models:classifier"]);
    expect(query("somepath(//models:eval_test, //data/raw:penguins)")).toEqual(["//data/raw:penguins", "//data:clean", "//data:split", "//models:eval_test"]);
    expect(query("somepath(//data:clean, //models:classifier)")).toEqual([]);
    expect(query("somepath(//models:train, //models:train)")).toEqual(["//models:train"]);
    // allpaths, by contrast, has every target on any path.
    expect(query("allpaths(//models:classifier, //data:clean)")).toEqual(["//data:clean", "//data:split", "//models:classifier", "//models:train"]);
  });

  it("attr(name, regex, x): targets one of whose attribute values the regex matches", () => {
    expect(query("attr(tools, python3, //...)")).toEqual(["//data:split"]);
    expect(query("attr(tools, '.', //...)")).toEqual(["//data:split", "//tools:fmt"]);
    expect(query("attr(cmd, '^prettier', //...)")).toEqual(["//tools:fmt"]);
    expect(query("attr(params.lr, '^0\\.01$', deps(//models:classifier))")).toEqual(["//models:train"]);
    expect(query("attr(tools, python3, //models/...)")).toEqual([]);
  });

  it("attr() and somepath() report bad arguments at their column", () => {
    expect(syntaxError("attr(tools, python3)")).toContain("invalid query at column 20: attr(...) is missing an argument");
    expect(syntaxError("attr('x y', a, //...)")).toContain("invalid query at column 6: expected an attribute name");
    expect(syntaxError("attr(tools, '(', //...)")).toContain("invalid query at column 13: invalid regular expression");
    expect(syntaxError("somepath(//a:x //b:y)")).toContain('invalid query at column 16: expected "," or ")" in somepath(...)');
  });

  it("resolves target patterns, sorted", () => {
    expect(query("//...")).toEqual([
      "//data/raw:penguins",
      "//data:clean",
      "//data:split",
      "//docs:files",
      "//models:classifier",
      "//models:eval_test",
      "//models:train",
      "//tools:fmt",
    ]);
    expect(query("//data/...")).toEqual(["//data/raw:penguins", "//data:clean", "//data:split"]);
    expect(query("//data:all")).toEqual(["//data:clean", "//data:split"]);
    expect(query("//models:train")).toEqual(["//models:train"]);
    expect(query("'//models:train'")).toEqual(["//models:train"]);
  });

  it("deps includes the targets themselves and their transitive dependencies", () => {
    expect(query("deps(//models:classifier)")).toEqual([
      "//data/raw:penguins",
      "//data:clean",
      "//data:split",
      "//models:classifier",
      "//models:train",
    ]);
  });

  it("deps with a depth counts edges", () => {
    expect(query("deps(//models:classifier, 0)")).toEqual(["//models:classifier"]);
    expect(query("deps(//models:classifier, 1)")).toEqual(["//data:clean", "//models:classifier", "//models:train"]);
    // //data:clean is one edge away, so depth 2 reaches //data/raw:penguins through it.
    expect(query("deps(//models:classifier, 2)")).toEqual([
      "//data/raw:penguins",
      "//data:clean",
      "//data:split",
      "//models:classifier",
      "//models:train",
    ]);
  });

  it("rdeps finds dependants within the universe's closure", () => {
    expect(query("rdeps(//..., //data:clean)")).toEqual([
      "//data:clean",
      "//data:split",
      "//models:classifier",
      "//models:eval_test",
      "//models:train",
    ]);
    expect(query("rdeps(//..., //data:clean, 1)")).toEqual(["//data:clean", "//data:split", "//models:classifier"]);
    expect(query("rdeps(//models:train, //data:clean)")).toEqual(["//data:clean", "//data:split", "//models:train"]);
    expect(query("rdeps(//models:train, //tools:fmt)")).toEqual([]);
  });

  it("kind matches the rule name as an unanchored regex", () => {
    expect(query("kind(step, //...)")).toEqual(["//data:clean", "//models:classifier", "//models:train"]);
    expect(query('kind("^(cmd|test)$", //...)')).toEqual(["//data:split", "//models:eval_test", "//tools:fmt"]);
    // "st" occurs in "step" and "test".
    expect(query("kind(st, //...)")).toEqual([
      "//data:clean",
      "//models:classifier",
      "//models:eval_test",
      "//models:train",
    ]);
    expect(query("kind(cmd, deps(//models:train))")).toEqual(["//data:split"]);
  });

  it("allpaths finds every target on a path from one set to another", () => {
    expect(query("allpaths(//models:eval_test, //data:clean)")).toEqual([
      "//data:clean",
      "//data:split",
      "//models:classifier",
      "//models:eval_test",
      "//models:train",
    ]);
    expect(query("allpaths(//models:classifier, //data:split)")).toEqual([
      "//data:split",
      "//models:classifier",
      "//models:train",
    ]);
    expect(query("allpaths(//data:clean, //models:train)")).toEqual([]);
    expect(query("allpaths(//data:clean, //data:clean)")).toEqual(["//data:clean"]);
  });

  it("combines sets with operators and words", () => {
    expect(query("deps(//models:classifier) - //data/...")).toEqual(["//models:classifier", "//models:train"]);
    expect(query("deps(//models:classifier) except //data/...")).toEqual(["//models:classifier", "//models:train"]);
    expect(query("//data/... ^ deps(//models:train, 1)")).toEqual(["//data:split"]);
    expect(query("//data/... intersect deps(//models:train, 1)")).toEqual(["//data:split"]);
    expect(query("//tools:fmt + //docs:files")).toEqual(["//docs:files", "//tools:fmt"]);
    expect(query("//tools:fmt union //docs:files")).toEqual(["//docs:files", "//tools:fmt"]);
    expect(query("//tools:fmt+//docs:files")).toEqual(["//docs:files", "//tools:fmt"]);
  });

  it("groups set operators left to right, with parentheses to override", () => {
    expect(query("//data/... - //data:all + //data:clean")).toEqual(["//data/raw:penguins", "//data:clean"]);
    expect(query("//data/... - (//data:all + //data:clean)")).toEqual(["//data/raw:penguins"]);
  });

  it("resolves each distinct pattern once", () => {
    const calls: string[] = [];
    const counting = (text: string) => {
      calls.push(text);
      return resolvePattern(text);
    };
    evaluateQuery(parseQuery("//... - //data/... + rdeps(//..., //data:clean)"), graph, counting);
    expect(calls).toEqual(["//...", "//data/...", "//data:clean"]);
  });

  it("lets resolvePattern errors through", () => {
    expect(() => query("deps(//nope:x)")).toThrow("no targets match //nope:x");
  });
});

describe("parseQuery", () => {
  it("builds the expression tree", () => {
    expect(parseQuery("deps(//a:x, 2) - kind(step, rdeps(//..., //a:y))")).toEqual({
      kind: "except",
      left: {
        kind: "deps",
        of: { kind: "pattern", text: "//a:x", pattern: { kind: "label", label: "//a:x" }, column: 6 },
        depth: 2,
      },
      right: {
        kind: "kind",
        ruleRegex: "step",
        of: {
          kind: "rdeps",
          universe: { kind: "pattern", text: "//...", pattern: { kind: "recursive", pkg: "" }, column: 35 },
          of: { kind: "pattern", text: "//a:y", pattern: { kind: "label", label: "//a:y" }, column: 42 },
        },
      },
    });
  });

  it("reports an unknown function, suggesting the nearest and listing the known ones", () => {
    expect(syntaxError("dep(//a:x)")).toBe(
      [
        'invalid query at column 1: unknown function "dep" (did you mean deps?); known functions: allpaths, attr, deps, kind, rdeps, somepath',
        "  dep(//a:x)",
        "  ^",
      ].join("\n"),
    );
    expect(syntaxError("//... - somepaths(//a:x, //b:y)")).toBe(
      [
        'invalid query at column 9: unknown function "somepaths" (did you mean somepath?); known functions: allpaths, attr, deps, kind, rdeps, somepath',
        "  //... - somepaths(//a:x, //b:y)",
        "          ^",
      ].join("\n"),
    );
  });

  it("reports wrong argument counts", () => {
    expect(syntaxError("deps()")).toBe(
      [
        "invalid query at column 6: deps(...) is missing an argument; write deps(expr) or deps(expr, depth)",
        "  deps()",
        "       ^",
      ].join("\n"),
    );
    expect(syntaxError("rdeps(//...)")).toBe(
      [
        "invalid query at column 12: rdeps(...) is missing an argument; write rdeps(universe, expr) or rdeps(universe, expr, depth)",
        "  rdeps(//...)",
        "             ^",
      ].join("\n"),
    );
    expect(syntaxError("deps(//a:x, 1, 2)")).toBe(
      [
        "invalid query at column 14: too many arguments to deps; write deps(expr) or deps(expr, depth)",
        "  deps(//a:x, 1, 2)",
        "               ^",
      ].join("\n"),
    );
  });

  it("reports bad depths and regexes", () => {
    expect(syntaxError("deps(//a:x, one)")).toBe(
      [
        'invalid query at column 13: expected a depth (a whole number such as 1) but found "one"',
        "  deps(//a:x, one)",
        "              ^",
      ].join("\n"),
    );
    expect(syntaxError("deps(//a:x, -1)")).toBe(
      [
        'invalid query at column 13: expected a depth (a whole number such as 1) but found "-"',
        "  deps(//a:x, -1)",
        "              ^",
      ].join("\n"),
    );
    expect(syntaxError('kind("(", //...)')).toBe(
      [
        'invalid query at column 6: invalid regular expression "(": Invalid regular expression: /(/: Unterminated group',
        '  kind("(", //...)',
        "       ^",
      ].join("\n"),
    );
    expect(syntaxError("kind((step), //...)")).toBe(
      [
        'invalid query at column 6: expected a rule name or a quoted regular expression but found "("',
        "  kind((step), //...)",
        "       ^",
      ].join("\n"),
    );
  });

  it("reports unbalanced parentheses and missing operators", () => {
    expect(syntaxError("deps(//a:x")).toBe(
      [
        'invalid query at column 11: expected "," or ")" in deps(...) but found the end of the query',
        "  deps(//a:x",
        "            ^",
      ].join("\n"),
    );
    expect(syntaxError("(//a:x")).toBe(
      [
        'invalid query at column 7: expected ")" to close the "(" at column 1 but found the end of the query',
        "  (//a:x",
        "        ^",
      ].join("\n"),
    );
    expect(syntaxError("//a:x)")).toBe(
      ['invalid query at column 6: this ")" has no matching "("', "  //a:x)", "       ^"].join("\n"),
    );
    expect(syntaxError("//a:x //b:y")).toBe(
      [
        'invalid query at column 7: expected a set operator (+, -, ^, union, except, intersect) or the end of the query but found "//b:y"',
        "  //a:x //b:y",
        "        ^",
      ].join("\n"),
    );
    expect(syntaxError("//a:x + union")).toBe(
      [
        'invalid query at column 9: expected a target pattern, a function or "(" but found "union"',
        "  //a:x + union",
        "          ^",
      ].join("\n"),
    );
    expect(syntaxError("//a:x +")).toBe(
      [
        'invalid query at column 8: expected a target pattern, a function or "(" but found the end of the query',
        "  //a:x +",
        "         ^",
      ].join("\n"),
    );
  });

  it("reports invalid target patterns with the pattern's own message", () => {
    expect(syntaxError("deps(models:x)")).toBe(
      [
        'invalid query at column 6: invalid target pattern "models:x": patterns start with "//" (forms: //pkg:name, //pkg, //pkg:all, //pkg/..., //...)',
        "  deps(models:x)",
        "       ^",
      ].join("\n"),
    );
    expect(syntaxError("deps //a:x")).toBe(
      [
        "invalid query at column 1: deps is a function; write deps(expr) or deps(expr, depth)",
        "  deps //a:x",
        "  ^",
      ].join("\n"),
    );
  });

  it("reports lexical errors", () => {
    expect(syntaxError("")).toBe(
      [
        "invalid query at column 1: the query is empty; write a target pattern such as //... or a function such as deps(//...)",
        "  ",
        "  ^",
      ].join("\n"),
    );
    expect(syntaxError("kind(step|cmd, //...)")).toBe(
      [
        'invalid query at column 10: unexpected character "|"; put words that contain it in quotes, e.g. kind("step|cmd", //...)',
        "  kind(step|cmd, //...)",
        "           ^",
      ].join("\n"),
    );
    expect(syntaxError("deps('//a:x)")).toBe(
      [
        "invalid query at column 6: the quote ' is never closed",
        "  deps('//a:x)",
        "       ^",
      ].join("\n"),
    );
  });

  it("shows multi-line queries on one line so the caret lines up", () => {
    expect(syntaxError("//a:x +\n\tdep(//b:y)")).toBe(
      [
        'invalid query at column 10: unknown function "dep" (did you mean deps?); known functions: allpaths, attr, deps, kind, rdeps, somepath',
        "  //a:x +  dep(//b:y)",
        "           ^",
      ].join("\n"),
    );
  });
});
