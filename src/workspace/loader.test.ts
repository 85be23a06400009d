import { describe, expect, it } from "vitest";
import { exportLines } from "./loader.js";

describe("exportLines", () => {
  it("gives the line of every exported declaration, in one pass", () => {
    const source = [
      `import { cmd } from "kiln";`, // 1
      ``,
      `export const first = cmd({ outs: ["a"], cmd: "x" });`, // 3
      `// export const commented = 1;`, // 4: a comment does not start with export
      `  export let indented = 2;`, // 5
      `export const $dollar_1 = 3;`, // 6
      `export function made() {}`, // 7
      `export async function later() {}`, // 8
      `const hidden = 4;`,
      `export { hidden };`, // not a declaration: line 1 by default
      `export const first = 5;`, // a duplicate keeps the first
    ].join("\n");
    const lines = exportLines(source);
    expect(Object.fromEntries(lines)).toEqual({ first: 3, indented: 5, $dollar_1: 6, made: 7, later: 8 });
  });

  it("counts lines correctly across many exports", () => {
    const source = Array.from({ length: 500 }, (_, i) => `export const s${i} = cmd({});\n// filler\n`).join("");
    const lines = exportLines(source);
    expect(lines.get("s0")).toBe(1);
    expect(lines.get("s499")).toBe(999);
    expect(lines.size).toBe(500);
  });
});
