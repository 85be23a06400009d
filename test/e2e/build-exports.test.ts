/**
 * Exports of a BUILD.ts that are not targets (issue 10, item 6). Every export must be a target,
 * except helpers named with a leading "_": before, `export const x = 42` was silently ignored, so
 * a target a user thought they declared (a typo'd rule call, a macro's result never exported as
 * a target) simply did not exist. Each problem names the file, the line and the export; all of a
 * load are reported at once; exit 2.
 */
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, show, stackLines, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

describe("exports that are not targets", () => {
  it("are an error naming file, line and export, every one of the load; helpers named _x are allowed", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`, // 1
        `export const _suffix = ".txt";`, // 2: a helper
        `export function _make(name: string) { return cmd({ outs: [name + _suffix], cmd: "echo " + name + " > $OUT/" + name + _suffix }); }`,
        `export const a = _make("a");`, // 4: a target
        `export const x = 42;`, // 5
        `export function macro() { return 1; }`, // 6
        ``,
      ].join("\n"),
      "q/BUILD.ts": [
        `import { cmd } from "kiln";`, // 1
        `const list = [cmd({ outs: ["o"], cmd: "echo > $OUT/o" })];`, // 2
        `export { list as targets };`, // 3
        ``,
      ].join("\n"),
    });
    const run = await f.kiln(["build", "//p:a"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`p/BUILD.ts:5: //p: export "x" is not a target (it is the number 42)`);
    expect(run.stderr).toContain(`p/BUILD.ts:6: //p: export "macro" is not a target (it is a function)`);
    expect(run.stderr).toContain("leading underscore (_x)");
    // Only //p was asked for: //q is not loaded, so its problem is not reported yet.
    expect(run.stderr).not.toContain("_suffix");
    expect(run.stderr).not.toContain("_make");
    expect(stackLines(run.stderr)).toEqual([]);

    const all = await f.kiln(["build"]);
    expect(all.code, show(all)).toBe(2);
    expect(all.stderr).toContain("3 problems");
    expect(all.stderr).toContain(`q/BUILD.ts:3: //q: export "targets" is not a target (it is an array of 1)`);

    f.write({
      "p/BUILD.ts": f.read("p/BUILD.ts").replace("export const x", "export const _x").replace("export function macro", "function macro"),
      "q/BUILD.ts": f.read("q/BUILD.ts").replace("export { list as targets };", "export const only = list[0];"),
    });
    const fixed = await f.build();
    expect(fixed.code, show(fixed)).toBe(0);
    expect(fixed.executed).toEqual(["//p:a", "//q:only"]);
    expect(f.read("kiln-out/p/a/a.txt")).toBe("a\n");
  });

  it("a default export is refused, target or not, with the fix", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const ok = cmd({ outs: ["o"], cmd: "echo > $OUT/o" });`,
        `export default cmd({ outs: ["d"], cmd: "echo > $OUT/d" });`,
        ``,
      ].join("\n"),
    });
    const run = await f.kiln(["build"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain("p/BUILD.ts:3: //p: p/BUILD.ts has a default export (a cmd target)");
    expect(run.stderr).toContain("export const <name> = ...");
  });

  it("re-exports: targets from another file are targets; anything else is reported at its export line", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/common.ts": [
        `import { cmd } from "kiln";`,
        `export const shared = cmd({ outs: ["s"], cmd: "echo s > $OUT/s" });`,
        `export const greeting = "hello";`,
        ``,
      ].join("\n"),
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`, // 1
        `export const own = cmd({ outs: ["o"], cmd: "echo o > $OUT/o" });`, // 2
        `export * from "./common.ts";`, // 3
        ``,
      ].join("\n"),
    });
    const run = await f.kiln(["build"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`p/BUILD.ts:3: //p: export "greeting" is not a target (it is the string "hello")`);
    expect(run.stderr).not.toContain(`"shared"`);

    f.write({ "p/common.ts": f.read("p/common.ts").replace("export const greeting", "export const _greeting") });
    const fixed = await f.build();
    expect(fixed.code, show(fixed)).toBe(0);
    expect(fixed.executed).toEqual(["//p:own", "//p:shared"]);
  });
});
