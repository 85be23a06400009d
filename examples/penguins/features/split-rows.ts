/**
 * Which penguins the model can use, and a stratified train/test split of them. Pure: the random
 * source is passed in, so the same seed gives the same split.
 */
import { MEASUREMENTS, type Penguin } from "./penguin.ts";

/** A penguin whose species, the label to learn, is known. */
export type LabelledPenguin = Penguin & { species: string };

export interface UsablePenguins {
  usable: LabelledPenguin[];
  /** Ids dropped because the species, the label to learn, is unknown. */
  withoutSpecies: number[];
  /** Ids dropped because no measurement was recorded: imputing all four would invent the penguin. */
  withoutMeasurements: number[];
}

export function selectUsablePenguins(penguins: readonly Penguin[]): UsablePenguins {
  const result: UsablePenguins = { usable: [], withoutSpecies: [], withoutMeasurements: [] };
  for (const penguin of penguins) {
    if (!hasSpecies(penguin)) result.withoutSpecies.push(penguin.id);
    else if (MEASUREMENTS.every((m) => penguin[m] === null)) result.withoutMeasurements.push(penguin.id);
    else result.usable.push(penguin);
  }
  return result;
}

function hasSpecies(penguin: Penguin): penguin is LabelledPenguin {
  return penguin.species !== null;
}

export interface Split<T> {
  train: T[];
  test: T[];
}

/**
 * Holds out `round(n * testFraction)` items of each stratum, chosen by a seeded shuffle, so each
 * species is as common in the test set as in the whole. Both halves keep the input order.
 */
export function stratifiedSplit<T>(
  items: readonly T[],
  stratumOf: (item: T) => string,
  testFraction: number,
  random: () => number,
): Split<T> {
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`testFraction must be between 0 and 1, got ${testFraction}`);
  const positionsByStratum = new Map<string, number[]>();
  items.forEach((item, position) => {
    const stratum = stratumOf(item);
    const positions = positionsByStratum.get(stratum);
    if (positions === undefined) positionsByStratum.set(stratum, [position]);
    else positions.push(position);
  });
  const testPositions = new Set<number>();
  // Strata in sorted order, so the random stream does not depend on which species comes first.
  for (const stratum of [...positionsByStratum.keys()].sort()) {
    const positions = shuffle(positionsByStratum.get(stratum)!, random);
    const testCount = Math.round(positions.length * testFraction);
    positions.slice(0, testCount).forEach((position) => testPositions.add(position));
  }
  return {
    train: items.filter((_, position) => !testPositions.has(position)),
    test: items.filter((_, position) => testPositions.has(position)),
  };
}

/** Fisher–Yates on a copy. */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
