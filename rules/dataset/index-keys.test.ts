import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IndexKeys } from "./index-keys.js";

describe("IndexKeys", () => {
  it("finds the first row of a repeated key in ascending runs, with gaps", () => {
    const keys = new IndexKeys();
    [1, 2, 3, 10, 11, 20].forEach((key, i) => expect(keys.claim(key, i + 1)).toBeUndefined());
    expect(keys.claim(11, 7)).toBe(5);
    expect(keys.claim(1, 8)).toBe(1);
  });

  it("tells numbers and strings apart, and keeps working once keys stop ascending", () => {
    const keys = new IndexKeys();
    expect(keys.claim(5, 1)).toBeUndefined();
    expect(keys.claim(2, 2)).toBeUndefined(); // out of order: every key goes to the map
    expect(keys.claim("5", 3)).toBeUndefined();
    expect(keys.claim(5, 4)).toBe(1);
    expect(keys.claim("5", 5)).toBe(3);
  });

  it("agrees with a plain map on any sequence of keys", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: -5, max: 40 }), fc.constantFrom("a", "b", 1.5)), { maxLength: 60 }), (sequence) => {
        const keys = new IndexKeys();
        const plain = new Map<string, number>();
        sequence.forEach((key, i) => {
          const id = `${typeof key}:${key}`;
          expect(keys.claim(key, i + 1)).toBe(plain.get(id));
          if (!plain.has(id)) plain.set(id, i + 1);
        });
      }),
    );
  });
});
