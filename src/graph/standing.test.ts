import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { standingInClosedSet, standingLabels } from "./standing.js";

/** The definition, recursively: a label stands if it stands itself and so does every dependency in the plan. */
function byDefinition(labels: string[], deps: Map<string, string[]>, stands: Set<string>): Set<string> {
  const inPlan = new Set(labels);
  const memo = new Map<string, boolean>();
  const ok = (label: string): boolean => {
    if (!memo.has(label)) memo.set(label, stands.has(label) && (deps.get(label) ?? []).filter((d) => inPlan.has(d)).every(ok));
    return memo.get(label)!;
  };
  return new Set(labels.filter(ok));
}

describe("standingLabels", () => {
  it("a fan-in whose aggregator changed: every leaf stands, the aggregator does not", () => {
    const leaves = Array.from({ length: 1000 }, (_, i) => `//p:s${i}`);
    const deps = new Map([["//agg:agg", leaves]]);
    const result = standingLabels([...leaves, "//agg:agg"], (l) => deps.get(l) ?? [], (l) => l !== "//agg:agg" && l !== "//p:s7");
    expect(result.size).toBe(999);
    expect(result.has("//p:s7")).toBe(false);
    expect(result.has("//agg:agg")).toBe(false);
  });

  it("a label that stands but depends on one that does not is left to the scheduler", () => {
    const deps = new Map([["a", ["b"]], ["b", ["c"]]]);
    expect([...standingLabels(["a", "b", "c"], (l) => deps.get(l) ?? [], (l) => l !== "c")]).toEqual([]);
    expect([...standingLabels(["a", "b"], (l) => deps.get(l) ?? [], (l) => l !== "c")].sort()).toEqual(["a", "b"]); // c not in the plan
  });

  it("a chain of 20,000 does not overflow the stack", () => {
    const labels = Array.from({ length: 20_000 }, (_, i) => `l${i}`);
    expect(standingLabels(labels, (l) => (l === "l0" ? [] : [`l${Number(l.slice(1)) - 1}`]), () => true).size).toBe(20_000);
  });

  it("equals the recursive definition on random DAGs", () => {
    const dag = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.tuple(
        fc.constant(n),
        fc.array(fc.tuple(fc.nat({ max: n - 1 }), fc.nat({ max: n - 1 })), { maxLength: 30 }),
        fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      ),
    );
    fc.assert(
      fc.property(dag, ([n, edges, standsFlags, inPlanFlags]) => {
        const all = Array.from({ length: n }, (_, i) => `t${i}`);
        const deps = new Map<string, string[]>();
        // Edges from a higher index to a lower one only: a DAG.
        for (const [a, b] of edges) if (a > b) deps.set(all[a]!, [...(deps.get(all[a]!) ?? []), all[b]!]);
        const labels = all.filter((_, i) => inPlanFlags[i]);
        const stands = new Set(all.filter((_, i) => standsFlags[i]));
        const got = standingLabels(labels, (l) => deps.get(l) ?? [], (l) => stands.has(l));
        expect([...got].sort()).toEqual([...byDefinition(labels, deps, stands)].sort());
      }),
      { numRuns: 2000 },
    );
  });

  it("standingInClosedSet equals standingLabels, for closed sets and any other", () => {
    const dag = fc.integer({ min: 1, max: 12 }).chain((n) =>
      fc.tuple(
        fc.constant(n),
        fc.array(fc.tuple(fc.nat({ max: n - 1 }), fc.nat({ max: n - 1 })), { maxLength: 30 }),
        fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        fc.boolean(),
      ),
    );
    let closedSeen = 0;
    fc.assert(
      fc.property(dag, ([n, edges, standsFlags, inPlanFlags, resultFlags, close]) => {
        const all = Array.from({ length: n }, (_, i) => `t${i}`);
        const deps = new Map<string, string[]>();
        for (const [a, b] of edges) if (a > b) deps.set(all[a]!, [...(deps.get(all[a]!) ?? []), all[b]!]);
        let set = new Set(all.filter((_, i) => standsFlags[i]));
        // Half the cases closed under dependencies, as unchanged-targets.ts makes it.
        if (close) set = standingLabels(all, (l) => deps.get(l) ?? [], (l) => set.has(l));
        const hasResult = (l: string) => close || resultFlags[all.indexOf(l)]!;
        const labels = all.filter((_, i) => inPlanFlags[i]);
        const depsOf = (l: string) => deps.get(l) ?? [];
        const got = standingInClosedSet(labels, depsOf, set, hasResult);
        expect([...got].sort()).toEqual([...standingLabels(labels, depsOf, (l) => set.has(l) && hasResult(l))].sort());
        if (close && got.size > 0) closedSeen++;
      }),
      { numRuns: 2000 },
    );
    expect(closedSeen).toBeGreaterThan(100);
  });
});
