/**
 * A small seeded PRNG (mulberry32). The split is seeded from `params.seed` rather than `ctx.random`,
 * whose seed follows the step's key: an edit to the split's code must not reshuffle which penguins
 * are held out, or metrics before and after the edit would not be comparable.
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
