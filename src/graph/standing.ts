/**
 * Which labels of a plan can be completed before anything is scheduled: those whose own result
 * stands (a label unchanged since the last build: see unchanged-targets.ts) and whose every
 * dependency in the plan stands too. Completing them up front, in any order, is what the
 * scheduler would have done with them one by one as they became ready (their completion reads
 * nothing of their dependencies), and leaves it only what may run: at 100,000 unchanged targets
 * its heap, dependants lists and counts for them cost ~0.3 s of a one-leaf rebuild.
 *
 * Pure: labels and functions in, a set out. Iterative (a chain of 10,000 must not overflow the
 * stack); each label's dependencies are looked at at most twice.
 */

export function standingLabels(labels: readonly string[], depsOf: (label: string) => readonly string[], stands: (label: string) => boolean): Set<string> {
  const inPlan = new Set(labels);
  const settled = new Map<string, boolean>();
  for (const root of labels) {
    if (settled.has(root)) continue;
    const stack = [root];
    while (stack.length > 0) {
      const label = stack[stack.length - 1]!;
      if (settled.has(label)) {
        stack.pop();
        continue;
      }
      if (!stands(label)) {
        settled.set(label, false);
        stack.pop();
        continue;
      }
      let waiting = false;
      let allStand = true;
      for (const dep of depsOf(label)) {
        if (!inPlan.has(dep)) continue;
        const dependency = settled.get(dep);
        if (dependency === undefined) {
          stack.push(dep);
          waiting = true;
        } else if (!dependency) allStand = false;
      }
      if (waiting) continue; // looked at again once its dependencies are settled
      settled.set(label, allStand);
      stack.pop();
    }
  }
  const standing = new Set<string>();
  for (const [label, stands] of settled) if (stands) standing.add(label);
  return standing;
}

/**
 * standingLabels where the labels that stand themselves are a set closed under dependencies
 * (unchanged-targets.ts returns one: a label is unchanged only if everything it depends on is):
 * then the plan's labels in the set are the answer, proved by one look at each one's
 * dependencies instead of the walk (~0.2 s at 100,000 labels). `hasResult` must hold for each
 * too. Anything else (a set that turns out not closed, a label without a result) gets the walk.
 */
export function standingInClosedSet(
  labels: readonly string[],
  depsOf: (label: string) => readonly string[],
  set: ReadonlySet<string>,
  hasResult: (label: string) => boolean,
): Set<string> {
  const standing = new Set<string>();
  const walk = () => standingLabels(labels, depsOf, (label) => set.has(label) && hasResult(label));
  for (const label of labels) {
    if (!set.has(label)) continue;
    if (!hasResult(label)) return walk();
    for (const dep of depsOf(label)) if (!set.has(dep)) return walk();
    standing.add(label);
  }
  return standing;
}
