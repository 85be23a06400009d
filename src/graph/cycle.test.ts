import { describe, expect, it } from "vitest";
import { CycleError, findCycle, formatCycle, longestPathToSink, topoOrder } from "./cycle.js";

/** A graph as an adjacency record: node -> its dependencies. */
function graphOf(edges: Record<string, string[]>): [string[], (node: string) => readonly string[]] {
  return [Object.keys(edges), (node) => edges[node] ?? []];
}

/** A chain n0 <- n1 <- ... (each node depends on the one before), `length` nodes long. */
function chain(length: number): [string[], (node: string) => readonly string[]] {
  const name = (index: number) => `//chain:n${String(index).padStart(6, "0")}`;
  const nodes = Array.from({ length }, (_, index) => name(index));
  const indexOf = new Map(nodes.map((node, index) => [node, index]));
  return [nodes, (node) => (indexOf.get(node)! > 0 ? [name(indexOf.get(node)! - 1)] : [])];
}

describe("findCycle", () => {
  it("returns null for a DAG", () => {
    expect(findCycle(...graphOf({ "//a:x": ["//b:y", "//c:z"], "//b:y": ["//c:z"], "//c:z": [] }))).toBeNull();
    expect(findCycle([], () => [])).toBeNull();
  });

  it("returns the cycle as a path with its first node repeated", () => {
    expect(findCycle(...graphOf({ "//a:x": ["//b:y"], "//b:y": ["//a:x"] }))).toEqual(["//a:x", "//b:y", "//a:x"]);
  });

  it("reports a self-dependency", () => {
    expect(findCycle(...graphOf({ "//a:x": ["//a:x"] }))).toEqual(["//a:x", "//a:x"]);
  });

  it("starts the path where the walk entered the cycle, not at the root", () => {
    const [nodes, deps] = graphOf({ "//a:x": ["//b:y"], "//b:y": ["//c:z"], "//c:z": ["//b:y"] });
    expect(findCycle(nodes, deps)).toEqual(["//b:y", "//c:z", "//b:y"]);
  });

  it("is the same whatever the order of nodes and deps", () => {
    const edges = {
      "//p:a": ["//p:d", "//p:b"],
      "//p:b": ["//p:c"],
      "//p:c": ["//p:a"],
      "//p:d": ["//p:e"],
      "//p:e": ["//p:d"],
    };
    const reversedEdges = Object.fromEntries(
      Object.entries(edges)
        .reverse()
        .map(([node, deps]) => [node, [...deps].reverse()]),
    );
    const expected = ["//p:a", "//p:b", "//p:c", "//p:a"];
    expect(findCycle(...graphOf(edges))).toEqual(expected);
    expect(findCycle(...graphOf(reversedEdges))).toEqual(expected);
  });

  it("follows dependencies that are not listed as nodes", () => {
    const edges: Record<string, string[]> = { "//a:x": ["//b:y"], "//b:y": ["//a:x"] };
    expect(findCycle(["//a:x"], (node) => edges[node]!)).toEqual(["//a:x", "//b:y", "//a:x"]);
  });

  it("walks a 100,000-node chain without overflowing the stack", () => {
    const [nodes, deps] = chain(100_000);
    expect(findCycle(nodes, deps)).toBeNull();
    const last = nodes[nodes.length - 1]!;
    const closed = (node: string) => (node === nodes[0] ? [last] : deps(node));
    const cycle = findCycle(nodes, closed)!;
    expect(cycle).toHaveLength(100_001);
    expect(cycle[0]).toBe(nodes[0]);
    expect(cycle[1]).toBe(last);
    expect(cycle[cycle.length - 1]).toBe(nodes[0]);
  });
});

describe("formatCycle", () => {
  it("joins the path with arrows", () => {
    expect(formatCycle(["//a:x", "//b:y", "//a:x"])).toBe("//a:x -> //b:y -> //a:x");
  });
});

describe("topoOrder", () => {
  it("puts every dependency before its dependants, deterministically", () => {
    const [nodes, deps] = graphOf({
      "//m:train": ["//d:clean", "//d:split"],
      "//d:split": ["//d:clean"],
      "//d:clean": ["//d:raw"],
      "//d:raw": [],
      "//m:report": ["//m:train", "//d:raw"],
    });
    expect(topoOrder(nodes, deps)).toEqual(["//d:raw", "//d:clean", "//d:split", "//m:train", "//m:report"]);
    expect(topoOrder([...nodes].reverse(), deps)).toEqual(topoOrder(nodes, deps));
  });

  it("includes dependencies reached from the listed nodes, once each", () => {
    const edges: Record<string, string[]> = { "//a:x": ["//b:y", "//b:y"], "//b:y": [] };
    expect(topoOrder(["//a:x", "//a:x"], (node) => edges[node]!)).toEqual(["//b:y", "//a:x"]);
  });

  it("throws a CycleError carrying the path", () => {
    const [nodes, deps] = graphOf({ "//a:x": ["//b:y"], "//b:y": ["//a:x"] });
    expect(() => topoOrder(nodes, deps)).toThrow("dependency cycle: //a:x -> //b:y -> //a:x");
    try {
      topoOrder(nodes, deps);
    } catch (error) {
      expect(error).toBeInstanceOf(CycleError);
      expect((error as CycleError).cycle).toEqual(["//a:x", "//b:y", "//a:x"]);
    }
  });

  it("orders a 100,000-node chain", () => {
    const [nodes, deps] = chain(100_000);
    expect(topoOrder([...nodes].reverse(), deps)).toEqual(nodes);
  });
});

describe("longestPathToSink", () => {
  // raw <- clean <- split <- train <- report, and raw <- report directly.
  const [nodes, deps] = graphOf({
    "//d:raw": [],
    "//d:clean": ["//d:raw"],
    "//d:split": ["//d:clean"],
    "//m:train": ["//d:split"],
    "//m:report": ["//m:train", "//d:raw"],
    "//m:lint": [],
  });

  it("counts nodes on the longest path to a final target", () => {
    expect(Object.fromEntries(longestPathToSink(nodes, deps))).toEqual({
      "//d:raw": 5,
      "//d:clean": 4,
      "//d:split": 3,
      "//m:train": 2,
      "//m:report": 1,
      "//m:lint": 1,
    });
  });

  it("weighs nodes", () => {
    const weights: Record<string, number> = { "//m:train": 100, "//m:report": 0 };
    const lengths = longestPathToSink(nodes, deps, (node) => weights[node] ?? 1);
    expect(Object.fromEntries(lengths)).toEqual({
      "//d:raw": 103,
      "//d:clean": 102,
      "//d:split": 101,
      "//m:train": 100,
      "//m:report": 0,
      "//m:lint": 1,
    });
  });

  it("takes the heavier of two branches", () => {
    const [branchNodes, branchDeps] = graphOf({ "//a:src": [], "//a:fast": ["//a:src"], "//a:slow": ["//a:src"] });
    const lengths = longestPathToSink(branchNodes, branchDeps, (node) => (node === "//a:slow" ? 10 : 1));
    expect(lengths.get("//a:src")).toBe(11);
  });

  it("throws a CycleError on a cycle", () => {
    expect(() => longestPathToSink(...graphOf({ "//a:x": ["//a:x"] }))).toThrow(CycleError);
  });

  it("handles a 100,000-node chain", () => {
    const [chainNodes, chainDeps] = chain(100_000);
    const lengths = longestPathToSink(chainNodes, chainDeps);
    expect(lengths.get(chainNodes[0]!)).toBe(100_000);
    expect(lengths.get(chainNodes[chainNodes.length - 1]!)).toBe(1);
  });
});
