import { describe, expect, it } from "vitest";
import type { Penguin } from "../../examples/penguins/features/penguin.ts";
import { seededRandom } from "../../examples/penguins/features/seeded-random.ts";
import { selectUsablePenguins, shuffle, stratifiedSplit } from "../../examples/penguins/features/split-rows.ts";

function penguin(id: number, species: string | null, measured = true): Penguin {
  const value = measured ? 1 : null;
  return { id, species, island: "Dream", sex: null, beakLengthMm: value, beakDepthMm: value, flipperLengthMm: value, bodyMassG: value };
}

describe("selectUsablePenguins", () => {
  it("drops penguins without species or without any measurement, keeping partly measured ones", () => {
    const partlyMeasured = { ...penguin(4, "Gentoo"), beakLengthMm: null, bodyMassG: null };
    const result = selectUsablePenguins([penguin(1, "Adelie"), penguin(2, null), penguin(3, "Gentoo", false), partlyMeasured]);
    expect(result.usable.map((p) => p.id)).toEqual([1, 4]);
    expect(result.withoutSpecies).toEqual([2]);
    expect(result.withoutMeasurements).toEqual([3]);
  });
});

describe("stratifiedSplit", () => {
  const items = [
    ...Array.from({ length: 40 }, (_, i) => ({ id: i, species: "Adelie" })),
    ...Array.from({ length: 20 }, (_, i) => ({ id: 40 + i, species: "Chinstrap" })),
    ...Array.from({ length: 10 }, (_, i) => ({ id: 60 + i, species: "Gentoo" })),
  ];
  const splitWith = (seed: number) => stratifiedSplit(items, (item) => item.species, 0.25, seededRandom(seed));

  it("holds out round(n * fraction) of each species", () => {
    const { test } = splitWith(42);
    const count = (species: string) => test.filter((item) => item.species === species).length;
    expect([count("Adelie"), count("Chinstrap"), count("Gentoo")]).toEqual([10, 5, 3]);
  });

  it("partitions the items and keeps their order in both halves", () => {
    const { train, test } = splitWith(42);
    expect([...train, ...test].map((item) => item.id).sort((a, b) => a - b)).toEqual(items.map((item) => item.id));
    expect(train.map((item) => item.id)).toEqual([...train.map((item) => item.id)].sort((a, b) => a - b));
    expect(test.map((item) => item.id)).toEqual([...test.map((item) => item.id)].sort((a, b) => a - b));
  });

  it("gives the same split for the same seed and another for another seed", () => {
    expect(splitWith(42)).toEqual(splitWith(42));
    expect(splitWith(7).test).not.toEqual(splitWith(42).test);
  });

  it("rejects a test fraction outside (0, 1)", () => {
    expect(() => stratifiedSplit(items, (item) => item.species, 1, seededRandom(1))).toThrow("testFraction must be between 0 and 1, got 1");
  });
});

describe("shuffle", () => {
  it("permutes a copy", () => {
    const original = [1, 2, 3, 4, 5, 6, 7, 8];
    const shuffled = shuffle(original, seededRandom(3));
    expect(original).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([...shuffled].sort()).toEqual(original);
    expect(shuffled).not.toEqual(original);
  });
});

describe("seededRandom", () => {
  it("is reproducible and in [0, 1)", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const values = Array.from({ length: 1000 }, () => a());
    expect(values).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
  });
});
