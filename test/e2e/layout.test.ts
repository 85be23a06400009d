/** kiln-out/<pkg>/<name>/ belongs to one target: layouts that would nest two are rejected. */
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, stackLines } from "./harness.js";

afterAll(cleanupTempDirs);

describe("output directories", () => {
  it("package a's target b and package a/b cannot both write under kiln-out/a/b", async () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "nest" });\n`,
      "a/BUILD.ts": `import { cmd } from "kiln";\nexport const b = cmd({ outs: ["x.txt"], cmd: "echo x > $OUT/x.txt" });\n`,
      "a/b/BUILD.ts": `import { cmd } from "kiln";\n\nexport const c = cmd({ outs: ["y.txt"], cmd: "echo y > $OUT/y.txt" });\n`,
    });
    const run = await fx.kiln(["build"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("a/b/BUILD.ts:3: //a/b:c writes to kiln-out/a/b/c/, inside //a:b's output directory kiln-out/a/b/");
    expect(stackLines(run.stderr)).toEqual([]);
  });
});
