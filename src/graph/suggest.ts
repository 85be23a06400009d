/**
 * "Did you mean" for every name a user can mistype: labels, packages, query functions, rule kinds.
 * One helper so every error suggests the same way. Distances are optimal-string-alignment
 * Damerau-Levenshtein (an adjacent transposition costs 1); results are deterministic: nearest first,
 * then same-package labels, then alphabetical (by UTF-16 code unit, never by locale).
 */

/**
 * The edit distance between `a` and `b`: insertions, deletions, substitutions and transpositions of
 * adjacent characters each cost 1 (optimal string alignment). When the distance exceeds `limit` the
 * computation stops early and returns `limit + 1`.
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (a === b) return 0;
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  // Three rows of the dynamic-programming table: i-2, i-1 and i.
  let twoBack = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  let previousRowMinimum = 0;
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    let rowMinimum = i;
    for (let j = 1; j <= b.length; j++) {
      const substitution = a[i - 1] === b[j - 1] ? 0 : 1;
      let cost = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        cost = Math.min(cost, twoBack[j - 2]! + 1);
      }
      current[j] = cost;
      if (cost < rowMinimum) rowMinimum = cost;
    }
    // A cell is never less than the cells it is computed from, which lie in this row and the two
    // before it (transpositions reach back two rows). Once two consecutive rows are all over the
    // limit, every later row is too.
    if (rowMinimum > limit && previousRowMinimum > limit) return limit + 1;
    previousRowMinimum = rowMinimum;
    [twoBack, previous, current] = [previous, current, twoBack];
  }
  const distance = previous[b.length]!;
  return distance > limit ? limit + 1 : distance;
}

/**
 * The known strings closest to `candidate`, nearest first, at most `maxSuggestions` of them.
 * A string counts as close when its distance is at most max(2, length / 3) of the part that
 * differs (for a label in the same package, its target name; otherwise the whole text), and less
 * than that length, so short names are not matched to unrelated short names. Labels (`//pkg:name`)
 * are compared whole; at equal distance a label in the candidate's own package comes first, then
 * alphabetical order. `candidate` itself is never suggested.
 */
export function nearest(candidate: string, known: readonly string[], maxSuggestions = 1): string[] {
  const candidateLabel = splitLabel(candidate);
  const matches: { text: string; distance: number; samePackage: boolean }[] = [];
  for (const text of new Set(known)) {
    if (text === candidate) continue;
    const knownLabel = splitLabel(text);
    const samePackage = candidateLabel !== undefined && knownLabel?.pkg === candidateLabel.pkg;
    let comparedLength = candidate.length;
    if (candidateLabel !== undefined) {
      comparedLength = samePackage ? candidateLabel.name.length : candidate.length - "//".length;
    }
    const threshold = Math.min(Math.max(2, Math.floor(comparedLength / 3)), comparedLength - 1);
    if (threshold < 1) continue;
    const distance = editDistance(candidate, text, threshold);
    if (distance <= threshold) matches.push({ text, distance, samePackage });
  }
  matches.sort(
    (x, y) =>
      x.distance - y.distance ||
      Number(y.samePackage) - Number(x.samePackage) ||
      (x.text < y.text ? -1 : x.text > y.text ? 1 : 0),
  );
  return matches.slice(0, Math.max(0, maxSuggestions)).map((match) => match.text);
}

/**
 * A suffix for an error message: `" (did you mean //models:classifier?)"` naming the nearest
 * known string, or `""` when nothing is close.
 */
export function didYouMean(candidate: string, known: readonly string[]): string {
  const [best] = nearest(candidate, known, 1);
  return best === undefined ? "" : ` (did you mean ${best}?)`;
}

/** `//pkg:name` split into package and name, or `undefined` for text that is not label-shaped. */
function splitLabel(text: string): { pkg: string; name: string } | undefined {
  if (!text.startsWith("//")) return undefined;
  const colon = text.indexOf(":", 2);
  if (colon < 0) return undefined;
  return { pkg: text.slice(2, colon), name: text.slice(colon + 1) };
}
