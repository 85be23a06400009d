/**
 * `kiln query`: a subset of Bazel's query language, parsed into a QueryExpr and evaluated over an
 * abstract graph. Parsing checks everything it can (function names, arity, depths, regexes, target
 * pattern syntax) and reports the column; evaluation only resolves patterns and walks edges.
 * Results are sorted (by UTF-16 code unit) and unique.
 *
 * Grammar (set operators have equal precedence and group left to right, as in Bazel):
 *   expr    := primary (setop primary)*
 *   setop   := "+" | "union" | "-" | "except" | "^" | "intersect"
 *   primary := pattern | "(" expr ")"
 *            | deps(expr) | deps(expr, depth) | rdeps(universe, expr) | rdeps(universe, expr, depth)
 *            | kind(regex, expr) | allpaths(from, to) | somepath(from, to)
 *            | attr(name, regex, expr)
 * A word is a run of letters, digits and `_ . / : $ * @ ~ -` (not starting with `-`), or any text
 * in single or double quotes; `-` is the except operator only where a word cannot start.
 */

import { didYouMean } from "./suggest.js";
import { LabelSyntaxError, parsePattern, type Pattern } from "../workspace/label.js";

/** The graph a query runs over. Labels are canonical `//pkg:name` strings. */
export interface QueryGraph {
  /** Every target of the workspace. */
  allLabels(): readonly string[];
  /** The direct dependencies of a target. */
  depsOf(label: string): readonly string[];
  /** The rule that made a target: `"step"`, `"cmd"`, `"files"`, `"test"`, `"dataset"`, or a user rule's name. */
  kindOf(label: string): string;
  /**
   * The values of a target's attribute (`cmd`, `outs`, `tools`, `run`, `params.lr`...), as
   * strings; a list gives one value per element; absent gives none. Used by `attr()`.
   */
  attributeOf?(label: string, name: string): readonly string[];
}

/** A parsed query. `column` is 1-based, counted in characters of the query text. */
export type QueryExpr =
  | { kind: "pattern"; text: string; pattern: Pattern; column: number }
  | { kind: "deps"; of: QueryExpr; depth?: number }
  | { kind: "rdeps"; universe: QueryExpr; of: QueryExpr; depth?: number }
  | { kind: "kind"; ruleRegex: string; of: QueryExpr }
  | { kind: "allpaths"; from: QueryExpr; to: QueryExpr }
  | { kind: "somepath"; from: QueryExpr; to: QueryExpr }
  | { kind: "attr"; name: string; valueRegex: string; of: QueryExpr }
  | { kind: "union" | "except" | "intersect"; left: QueryExpr; right: QueryExpr };

/**
 * A query that cannot be parsed. The message names the column and shows the query with a caret
 * under the problem:
 * ```
 * invalid query at column 1: unknown function "dep" (did you mean deps?); known functions: allpaths, deps, kind, rdeps
 *   dep(//a:x)
 *   ^
 * ```
 */
export class QuerySyntaxError extends Error {
  override readonly name = "QuerySyntaxError";
  /** 1-based column of the problem in `query`. */
  readonly column: number;
  /** The query text as given. */
  readonly query: string;
  /** What is wrong, without the location and caret lines. */
  readonly problem: string;

  constructor(query: string, column: number, problem: string) {
    const shownQuery = query.replace(/\s/g, " ");
    super(`invalid query at column ${column}: ${problem}\n  ${shownQuery}\n  ${" ".repeat(column - 1)}^`);
    this.column = column;
    this.query = query;
    this.problem = problem;
  }
}

type ParameterKind = "expr" | "depth" | "regex" | "name";
interface FunctionSignature {
  readonly parameters: readonly ParameterKind[];
  readonly required: number;
  readonly usage: string;
}

const FUNCTIONS: Readonly<Record<string, FunctionSignature>> = {
  allpaths: { parameters: ["expr", "expr"], required: 2, usage: "allpaths(from, to)" },
  attr: { parameters: ["name", "regex", "expr"], required: 3, usage: "attr(name, regex, expr), e.g. attr(tools, python3, //...)" },
  deps: { parameters: ["expr", "depth"], required: 1, usage: "deps(expr) or deps(expr, depth)" },
  kind: { parameters: ["regex", "expr"], required: 2, usage: "kind(regex, expr)" },
  rdeps: {
    parameters: ["expr", "expr", "depth"],
    required: 2,
    usage: "rdeps(universe, expr) or rdeps(universe, expr, depth)",
  },
  somepath: { parameters: ["expr", "expr"], required: 2, usage: "somepath(from, to)" },
};
const FUNCTION_NAMES = Object.keys(FUNCTIONS).sort();

const SET_OPERATORS: Readonly<Record<string, "union" | "except" | "intersect">> = {
  "+": "union",
  union: "union",
  "-": "except",
  except: "except",
  "^": "intersect",
  intersect: "intersect",
};

/**
 * Parses a query such as `kind(step, deps(//models:classifier)) - //data/...`.
 * @throws QuerySyntaxError naming the column of the first problem.
 */
export function parseQuery(text: string): QueryExpr {
  return new QueryParser(text).parseQuery();
}

/**
 * Evaluates a parsed query. `resolvePattern` receives each target pattern as the user wrote it
 * (already checked by {@link parsePattern}) and returns the labels it selects; its errors (say, an
 * unknown target) propagate unchanged. `deps` includes the targets themselves, and `depth` counts
 * edges (depth 0 is the targets alone); `rdeps(u, x)` is the targets in the transitive closure of
 * `u` that depend on `x`, including `x` itself where it lies in that closure; `kind(regex, x)`
 * keeps targets whose rule name the regex matches anywhere (unanchored, as in Bazel);
 * `allpaths(from, to)` is every target on a dependency path from `from` to `to`, both ends included;
 * `somepath(from, to)` the targets of one such path (a shortest, the same every time);
 * `attr(name, regex, x)` keeps targets one of whose `name` values the regex matches (unanchored).
 * @returns the selected labels, sorted and unique.
 */
export function evaluateQuery(
  expr: QueryExpr,
  graph: QueryGraph,
  resolvePattern: (pattern: string) => string[],
): string[] {
  return [...new QueryEvaluator(graph, resolvePattern).evaluate(expr)].sort();
}

type TokenType = "word" | "(" | ")" | "," | "+" | "-" | "^" | "end";
interface Token {
  readonly type: TokenType;
  /** For words, the text without quotes. */
  readonly text: string;
  readonly quoted: boolean;
  readonly column: number;
}

const WORD_START = /[A-Za-z0-9_./:$*@~]/;
const WORD_CHARACTER = /[A-Za-z0-9_./:$*@~-]/;
const PUNCTUATION: ReadonlySet<string> = new Set(["(", ")", ",", "+", "-", "^"]);
const WHOLE_NUMBER = /^[0-9]+$/;

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < query.length) {
    const character = query[index]!;
    const column = index + 1;
    if (/\s/.test(character)) {
      index++;
    } else if (PUNCTUATION.has(character)) {
      tokens.push({ type: character as TokenType, text: character, quoted: false, column });
      index++;
    } else if (character === '"' || character === "'") {
      const close = query.indexOf(character, index + 1);
      if (close < 0) throw new QuerySyntaxError(query, column, `the quote ${character} is never closed`);
      tokens.push({ type: "word", text: query.slice(index + 1, close), quoted: true, column });
      index = close + 1;
    } else if (WORD_START.test(character)) {
      const start = index;
      while (index < query.length && WORD_CHARACTER.test(query[index]!)) index++;
      tokens.push({ type: "word", text: query.slice(start, index), quoted: false, column });
    } else {
      throw new QuerySyntaxError(
        query,
        column,
        `unexpected character ${JSON.stringify(character)}; put words that contain it in quotes, e.g. kind("step|cmd", //...)`,
      );
    }
  }
  tokens.push({ type: "end", text: "", quoted: false, column: query.length + 1 });
  return tokens;
}

function describeToken(token: Token): string {
  if (token.type === "end") return "the end of the query";
  return JSON.stringify(token.text);
}

class QueryParser {
  private readonly tokens: Token[];
  private position = 0;

  constructor(private readonly query: string) {
    this.tokens = tokenize(query);
  }

  parseQuery(): QueryExpr {
    if (this.peek().type === "end") {
      throw this.error(this.peek(), "the query is empty; write a target pattern such as //... or a function such as deps(//...)");
    }
    const expr = this.parseExpr();
    const next = this.peek();
    if (next.type !== "end") {
      const problem =
        next.type === ")"
          ? 'this ")" has no matching "("'
          : `expected a set operator (+, -, ^, union, except, intersect) or the end of the query but found ${describeToken(next)}`;
      throw this.error(next, problem);
    }
    return expr;
  }

  private parseExpr(): QueryExpr {
    let left = this.parsePrimary();
    for (;;) {
      const operator = this.setOperatorAt(this.peek());
      if (operator === undefined) return left;
      this.position++;
      const right = this.parsePrimary();
      left = { kind: operator, left, right };
    }
  }

  private parsePrimary(): QueryExpr {
    const token = this.next();
    if (token.type === "(") {
      const expr = this.parseExpr();
      this.expect(")", `expected ")" to close the "(" at column ${token.column} but found ${describeToken(this.peek())}`);
      return expr;
    }
    if (token.type !== "word" || this.setOperatorAt(token) !== undefined) {
      throw this.error(token, `expected a target pattern, a function or "(" but found ${describeToken(token)}`);
    }
    if (!token.quoted && this.peek().type === "(") return this.parseCall(token);
    return this.parsePatternWord(token);
  }

  private parsePatternWord(token: Token): QueryExpr {
    if (!token.quoted && Object.hasOwn(FUNCTIONS, token.text)) {
      throw this.error(token, `${token.text} is a function; write ${FUNCTIONS[token.text]!.usage}`);
    }
    try {
      return { kind: "pattern", text: token.text, pattern: parsePattern(token.text), column: token.column };
    } catch (error) {
      if (error instanceof LabelSyntaxError) throw this.error(token, error.message);
      throw error;
    }
  }

  private parseCall(nameToken: Token): QueryExpr {
    const name = nameToken.text;
    const signature = Object.hasOwn(FUNCTIONS, name) ? FUNCTIONS[name] : undefined;
    if (signature === undefined) {
      throw this.error(
        nameToken,
        `unknown function "${name}"${didYouMean(name, FUNCTION_NAMES)}; known functions: ${FUNCTION_NAMES.join(", ")}`,
      );
    }
    this.next(); // "("
    const args: (QueryExpr | number | string)[] = [];
    let close = this.peek();
    if (close.type === ")") {
      this.next();
    } else {
      for (;;) {
        args.push(this.parseArgument(signature.parameters[args.length]!));
        const separator = this.next();
        if (separator.type === ")") {
          close = separator;
          break;
        }
        if (separator.type !== ",") {
          throw this.error(separator, `expected "," or ")" in ${name}(...) but found ${describeToken(separator)}`);
        }
        if (args.length === signature.parameters.length) {
          throw this.error(separator, `too many arguments to ${name}; write ${signature.usage}`);
        }
      }
    }
    if (args.length < signature.required) {
      throw this.error(close, `${name}(...) is missing an argument; write ${signature.usage}`);
    }
    return buildCall(name, args);
  }

  private parseArgument(parameter: ParameterKind): QueryExpr | number | string {
    switch (parameter) {
      case "expr":
        return this.parseExpr();
      case "depth": {
        const token = this.next();
        if (token.type !== "word" || token.quoted || !WHOLE_NUMBER.test(token.text)) {
          throw this.error(token, `expected a depth (a whole number such as 1) but found ${describeToken(token)}`);
        }
        return Number(token.text);
      }
      case "name": {
        const token = this.next();
        if (token.type !== "word" || !/^[A-Za-z_][A-Za-z0-9_.]*$/.test(token.text)) {
          throw this.error(token, `expected an attribute name (cmd, outs, tools, run, params.NAME...) but found ${describeToken(token)}`);
        }
        return token.text;
      }
      case "regex": {
        const token = this.next();
        if (token.type !== "word") {
          throw this.error(token, `expected a rule name or a quoted regular expression but found ${describeToken(token)}`);
        }
        try {
          new RegExp(token.text);
        } catch (error) {
          throw this.error(token, `invalid regular expression ${JSON.stringify(token.text)}: ${(error as Error).message}`);
        }
        return token.text;
      }
      default: {
        const unreachable: never = parameter;
        throw new Error(`unknown parameter kind ${String(unreachable)}`);
      }
    }
  }

  private setOperatorAt(token: Token): "union" | "except" | "intersect" | undefined {
    if (token.quoted) return undefined;
    if (token.type === "word" || token.type === "+" || token.type === "-" || token.type === "^") {
      return Object.hasOwn(SET_OPERATORS, token.text) ? SET_OPERATORS[token.text] : undefined;
    }
    return undefined;
  }

  private expect(type: TokenType, problem: string): Token {
    const token = this.peek();
    if (token.type !== type) throw this.error(token, problem);
    return this.next();
  }

  private peek(): Token {
    return this.tokens[this.position]!;
  }

  private next(): Token {
    const token = this.tokens[this.position]!;
    if (token.type !== "end") this.position++;
    return token;
  }

  private error(token: Token, problem: string): QuerySyntaxError {
    return new QuerySyntaxError(this.query, token.column, problem);
  }
}

/** Builds the node for a call whose arguments the parser has already checked against its signature. */
function buildCall(name: string, args: readonly (QueryExpr | number | string)[]): QueryExpr {
  const expr = (index: number) => args[index] as QueryExpr;
  const depth = (index: number) => args[index] as number | undefined;
  switch (name) {
    case "deps": {
      const node: QueryExpr = { kind: "deps", of: expr(0) };
      if (depth(1) !== undefined) node.depth = depth(1);
      return node;
    }
    case "rdeps": {
      const node: QueryExpr = { kind: "rdeps", universe: expr(0), of: expr(1) };
      if (depth(2) !== undefined) node.depth = depth(2);
      return node;
    }
    case "kind":
      return { kind: "kind", ruleRegex: args[0] as string, of: expr(1) };
    case "allpaths":
      return { kind: "allpaths", from: expr(0), to: expr(1) };
    case "somepath":
      return { kind: "somepath", from: expr(0), to: expr(1) };
    case "attr":
      return { kind: "attr", name: args[0] as string, valueRegex: args[1] as string, of: expr(2) };
    default:
      throw new Error(`no builder for query function ${name}`);
  }
}

class QueryEvaluator {
  private readonly depsCache = new Map<string, readonly string[]>();
  private readonly patternCache = new Map<string, readonly string[]>();

  constructor(
    private readonly graph: QueryGraph,
    private readonly resolvePattern: (pattern: string) => string[],
  ) {}

  evaluate(expr: QueryExpr): Set<string> {
    switch (expr.kind) {
      case "pattern":
        return new Set(this.resolve(expr.text));
      case "deps":
        return this.reachable(this.evaluate(expr.of), (label) => this.depsOf(label), expr.depth);
      case "rdeps": {
        const universe = this.reachable(this.evaluate(expr.universe), (label) => this.depsOf(label));
        const targets = [...this.evaluate(expr.of)].filter((label) => universe.has(label));
        const dependants = this.reverseEdges(universe);
        return this.reachable(targets, (label) => dependants.get(label) ?? [], expr.depth);
      }
      case "kind": {
        const ruleRegex = new RegExp(expr.ruleRegex);
        return new Set([...this.evaluate(expr.of)].filter((label) => ruleRegex.test(this.graph.kindOf(label))));
      }
      case "allpaths": {
        const fromClosure = this.reachable(this.evaluate(expr.from), (label) => this.depsOf(label));
        const ends = [...this.evaluate(expr.to)].filter((label) => fromClosure.has(label));
        const dependants = this.reverseEdges(fromClosure);
        return this.reachable(ends, (label) => dependants.get(label) ?? []);
      }
      case "somepath":
        return this.somePath(this.evaluate(expr.from), this.evaluate(expr.to));
      case "attr": {
        const valueRegex = new RegExp(expr.valueRegex);
        const valuesOf = (label: string) => this.graph.attributeOf?.(label, expr.name) ?? [];
        return new Set([...this.evaluate(expr.of)].filter((label) => valuesOf(label).some((value) => valueRegex.test(value))));
      }
      case "union": {
        const result = this.evaluate(expr.left);
        for (const label of this.evaluate(expr.right)) result.add(label);
        return result;
      }
      case "except": {
        const result = this.evaluate(expr.left);
        for (const label of this.evaluate(expr.right)) result.delete(label);
        return result;
      }
      case "intersect": {
        const right = this.evaluate(expr.right);
        return new Set([...this.evaluate(expr.left)].filter((label) => right.has(label)));
      }
      default: {
        const unreachable: never = expr;
        throw new Error(`unknown query expression ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** `start` and everything reachable from it along `next`, at most `maxDepth` edges away. */
  private reachable(
    start: Iterable<string>,
    next: (label: string) => readonly string[],
    maxDepth = Number.POSITIVE_INFINITY,
  ): Set<string> {
    const seen = new Set(start);
    let frontier = [...seen];
    for (let depth = 0; depth < maxDepth && frontier.length > 0; depth++) {
      const nextFrontier: string[] = [];
      for (const label of frontier) {
        for (const neighbour of next(label)) {
          if (!seen.has(neighbour)) {
            seen.add(neighbour);
            nextFrontier.push(neighbour);
          }
        }
      }
      frontier = nextFrontier;
    }
    return seen;
  }

  /**
   * One dependency path from a target of `from` to a target of `to`, both ends included, or
   * nothing: breadth first (so a shortest one), starts and neighbours in sorted order (so always
   * the same one).
   */
  private somePath(from: ReadonlySet<string>, to: ReadonlySet<string>): Set<string> {
    const previous = new Map<string, string | undefined>();
    let frontier = [...from].sort();
    for (const label of frontier) previous.set(label, undefined);
    while (frontier.length > 0) {
      const nextFrontier: string[] = [];
      for (const label of frontier) {
        if (to.has(label)) {
          const path = new Set<string>();
          for (let at: string | undefined = label; at !== undefined; at = previous.get(at)) path.add(at);
          return path;
        }
        for (const dependency of [...this.depsOf(label)].sort()) {
          if (previous.has(dependency)) continue;
          previous.set(dependency, label);
          nextFrontier.push(dependency);
        }
      }
      frontier = nextFrontier;
    }
    return new Set();
  }

  /** Dependant edges (dependency -> its dependants) among the labels of `within`. */
  private reverseEdges(within: ReadonlySet<string>): Map<string, string[]> {
    const dependants = new Map<string, string[]>();
    for (const label of within) {
      for (const dependency of this.depsOf(label)) {
        if (!within.has(dependency)) continue;
        let list = dependants.get(dependency);
        if (list === undefined) dependants.set(dependency, (list = []));
        list.push(label);
      }
    }
    return dependants;
  }

  private depsOf(label: string): readonly string[] {
    let deps = this.depsCache.get(label);
    if (deps === undefined) {
      deps = this.graph.depsOf(label);
      this.depsCache.set(label, deps);
    }
    return deps;
  }

  private resolve(pattern: string): readonly string[] {
    let labels = this.patternCache.get(pattern);
    if (labels === undefined) {
      labels = this.resolvePattern(pattern);
      this.patternCache.set(pattern, labels);
    }
    return labels;
  }
}
