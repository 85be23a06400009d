import { describe, expect, it } from "vitest";
import { EXPORT_STAR, exportLines } from "./loader.js";

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
      `export { hidden };`, // 10
      `export const first = 5;`, // a duplicate keeps the first
    ].join("\n");
    const lines = exportLines(source);
    expect(Object.fromEntries(lines)).toEqual({ first: 3, indented: 5, $dollar_1: 6, made: 7, later: 8, hidden: 10 });
  });

  it("finds re-exports, export lists across lines, default and export *", () => {
    const source = [
      `import { cmd } from "kiln";`, // 1
      `export class Thing {}`, // 2
      `export {`, // 3
      `  a,`, // 4
      `  b as renamed, // a comment`, // 5
      `  type T,`, // 6: a type is no runtime export
      `} from "./other.ts";`, // 7
      `export * as ns from "./ns.ts";`, // 8
      `export * from "./all.ts";`, // 9
      `export * from "./more.ts";`, // 10: only the first export * is kept
      `export default cmd({});`, // 11
    ].join("\n");
    const lines = exportLines(source);
    expect(Object.fromEntries(lines)).toEqual({ Thing: 2, a: 4, renamed: 5, ns: 8, [EXPORT_STAR]: 9, default: 11 });
  });

  it("counts lines correctly across many exports", () => {
    const source = Array.from({ length: 500 }, (_, i) => `export const s${i} = cmd({});\n// filler\n`).join("");
    const lines = exportLines(source);
    expect(lines.get("s0")).toBe(1);
    expect(lines.get("s499")).toBe(999);
    expect(lines.size).toBe(500);
  });
});
