import { describe, expect, it } from "vitest";
import { encodePenguin, fitEncoding, mean, median, standardDeviation } from "../../examples/penguins/features/encoding.ts";
import { toPenguin, type Penguin } from "../../examples/penguins/features/penguin.ts";

function penguin(id: number, fields: Partial<Penguin>): Penguin {
  return { id, species: "Adelie", island: "Dream", sex: "MALE", beakLengthMm: 40, beakDepthMm: 18, flipperLengthMm: 190, bodyMassG: 3700, ...fields };
}

describe("statistics", () => {
  it("median of odd and even counts", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("population standard deviation", () => {
    expect(mean([2, 4, 4, 4, 5, 5, 7, 9])).toBe(5);
    expect(standardDeviation([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
  });
});

describe("fitEncoding", () => {
  const train = [
    penguin(1, { beakLengthMm: 30, island: "Biscoe", sex: "FEMALE" }),
    penguin(2, { beakLengthMm: 40, island: "Dream", sex: "MALE" }),
    penguin(3, { beakLengthMm: 50, island: "Dream", sex: null }),
    penguin(4, { beakLengthMm: null, island: "Biscoe", sex: "MALE" }),
  ];
  const encoding = fitEncoding(train);

  it("names measurements first, then one column a category seen in training", () => {
    expect(encoding.featureNames).toEqual([
      "beakLengthMm",
      "beakDepthMm",
      "flipperLengthMm",
      "bodyMassG",
      "island=Biscoe",
      "island=Dream",
      "sex=FEMALE",
      "sex=MALE",
    ]);
  });

  it("imputes with the train median and standardises with the imputed train statistics", () => {
    expect(encoding.medians.beakLengthMm).toBe(40);
    expect(encoding.means.beakLengthMm).toBe(40); // 30, 40, 50 and the imputed 40
    expect(encoding.stds.beakLengthMm).toBeCloseTo(Math.sqrt(50));
    const encoded = train.map((p) => encodePenguin(p, encoding)[0]!);
    expect(mean(encoded)).toBeCloseTo(0);
    expect(standardDeviation(encoded)).toBeCloseTo(1);
    expect(encodePenguin(train[3]!, encoding)[0]).toBe(0);
  });

  it("scales a constant column by 1 instead of dividing by zero", () => {
    expect(encoding.stds.beakDepthMm).toBe(1);
    expect(encodePenguin(train[0]!, encoding)[1]).toBe(0);
  });

  it("one-hot encodes categories, and an unknown or unseen one as zeros", () => {
    expect(encodePenguin(train[0]!, encoding).slice(4)).toEqual([1, 0, 1, 0]);
    expect(encodePenguin(train[2]!, encoding).slice(4)).toEqual([0, 1, 0, 0]);
    expect(encodePenguin(penguin(5, { island: "Torgersen" }), encoding).slice(4)).toEqual([0, 0, 0, 1]);
  });
});

describe("toPenguin", () => {
  it("reads the source's columns and treats a sex of '.' as unknown", () => {
    const row = {
      id: 337,
      Species: "Gentoo",
      Island: "Biscoe",
      "Beak Length (mm)": 44.5,
      "Beak Depth (mm)": 15.7,
      "Flipper Length (mm)": 217,
      "Body Mass (g)": 4875,
      Sex: ".",
    };
    expect(toPenguin(row)).toEqual({
      id: 337,
      species: "Gentoo",
      island: "Biscoe",
      sex: null,
      beakLengthMm: 44.5,
      beakDepthMm: 15.7,
      flipperLengthMm: 217,
      bodyMassG: 4875,
    });
  });
});
