/** `kiln why` says what changed before a step's last run, and where its log is. */
import { existsSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace } from "./harness.js";

afterAll(cleanupTempDirs);

describe("kiln why", () => {
  it("names the changed input and param, and the log", async () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "why" });\n`,
      "a/in.txt": "one\n",
      "a/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const upper = cmd({ srcs: ["in.txt"], outs: ["up.txt"], cmd: "echo working; tr a-z A-Z < $SRCS > $OUT/up.txt", env: { MODE: "a" } });`,
      ].join("\n"),
    });
    expect((await fx.kiln(["why", "//a:upper"])).code).toBe(2);
    expect((await fx.build()).executed).toEqual(["//a:upper"]);
    const first = await fx.kiln(["why", "//a:upper"]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("it had not been built in this workspace before");

    fx.write({ "a/in.txt": "two\n" });
    expect((await fx.build()).executed).toEqual(["//a:upper"]);
    const second = await fx.kiln(["why", "//a:upper"]);
    expect(second.stdout).toMatch(/^\/\/a:upper: key [0-9a-f]{12}, executed /);
    expect(second.stdout).toContain("  input changed: a/in.txt\n");
    const logPath = /log: (\S+)/.exec(second.stdout)![1]!;
    expect(existsSync(logPath)).toBe(true);

    fx.write({ "a/BUILD.ts": fx.read("a/BUILD.ts").replace('MODE: "a"', 'MODE: "b"') });
    await fx.build();
    expect((await fx.kiln(["why", "//a:upper"])).stdout).toContain("  environment changed\n");
  });

  it("names the one input of 2,500 that changed (the ingredients stored as shared chunks)", async () => {
    const files: Record<string, string> = {
      "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "why-many" });\n`,
      "a/BUILD.ts": `import { cmd } from "kiln";\nexport const count = cmd({ srcs: ["in/*.txt"], outs: ["n.txt"], cmd: "cat $SRCS | wc -l > $OUT/n.txt" });\n`,
    };
    for (let i = 0; i < 2500; i++) files[`a/in/f${String(i).padStart(4, "0")}.txt`] = `line ${i}\n`;
    const fx = makeWorkspace(files);
    expect((await fx.build()).executed).toEqual(["//a:count"]);
    fx.write({ "a/in/f1234.txt": "changed\n" });
    expect((await fx.build()).executed).toEqual(["//a:count"]);
    const why = await fx.kiln(["why", "//a:count"]);
    expect(why.code).toBe(0);
    expect(why.stdout).toContain("  input changed: a/in/f1234.txt\n");
    expect(why.stdout).not.toContain("f1233");
  });
});
