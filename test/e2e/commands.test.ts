/**
 * How `cmd` steps run: through kiln's helper shell (see src/exec/command-spawner.ts), each as
 * `sh -c` would run it: the command text and environment values exactly as written, its exit
 * status, a signal, a syntax error, and a shell of its own.
 */
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const buildFile = (...lines: string[]) => [`import { cmd } from "kiln";`, ...lines, ``].join("\n");

describe("cmd steps", () => {
  it("see their command text and environment values byte for byte", async () => {
    const tricky = `it's "quoted" $HOME \`uname\` \\n; exit 9`;
    const command = [
      `printf '%s\\n' "it's" 'a "double" and a $dollar' > $OUT/text.txt`,
      `printf '%s' "$TRICKY" > $OUT/env.txt`,
      `echo "lines: $(printf 'a\\nb\\n' | wc -l)" >> $OUT/text.txt`,
    ].join("\n");
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": buildFile(`export const quoting = cmd({ outs: ["text.txt", "env.txt"], env: { TRICKY: ${JSON.stringify(tricky)} }, cmd: ${JSON.stringify(command)} });`),
    });
    const run = await f.build();
    expect(run.code, show(run)).toBe(0);
    expect(f.read("kiln-out/p/quoting/text.txt")).toBe(`it's\na "double" and a $dollar\nlines: 2\n`);
    expect(f.read("kiln-out/p/quoting/env.txt")).toBe(tricky);
  });

  it("report an exit status, a signal and a syntax error as failures of the step", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": buildFile(
        `export const status = cmd({ outs: ["o"], cmd: "echo about to fail >&2; exit 42" });`,
        `export const signal = cmd({ outs: ["o"], cmd: "kill -9 $$" });`,
        `export const syntax = cmd({ outs: ["o"], cmd: "if then fi (" });`,
      ),
    });
    const run = await f.kiln(["build", "-k"]);
    expect(run.code, show(run)).toBe(1);
    expect(run.stderr).toContain("//p:status");
    expect(run.stderr).toContain("exited with code 42");
    expect(run.stderr).toContain("about to fail");
    expect(run.stderr).toContain("//p:signal");
    expect(run.stderr).toContain("exited with code 137 (128 + SIGKILL");
    expect(run.stderr).toContain("//p:syntax");
    expect(run.stderr).toMatch(/exited with code 2[^0-9]/);
    expect(run.stderr).toMatch(/[Ss]yntax error/);
  });

  // In the directory sandbox: in the namespace sandbox each command has a PID namespace of its
  // own, where $$ is the same small number every time.
  it("each command has a shell of its own: $$ differs between steps and kill $$ ends only that step", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": buildFile(
        `export const one = cmd({ outs: ["pid"], cmd: "echo $$ > $OUT/pid" });`,
        `export const two = cmd({ outs: ["pid"], cmd: "echo $$ > $OUT/pid" });`,
        `export const suicide = cmd({ outs: ["o"], cmd: "kill -TERM $$; sleep 1; echo survived > $OUT/o" });`,
        `export const after = cmd({ srcs: [":one", ":two"], outs: ["o"], cmd: "cat $SRCS > $OUT/o" });`,
      ),
    });
    const run = await f.build(["-k", "--sandbox", "dir"]);
    expect(run.failed).toEqual(["//p:suicide"]);
    expect(run.executed).toEqual(["//p:after", "//p:one", "//p:two"]);
    expect(f.read("kiln-out/p/one/pid")).not.toBe(f.read("kiln-out/p/two/pid"));
    expect(run.stderr).toContain("exited with code 143 (128 + SIGTERM");
  });

  it("a command that kills the shell that started it fails alone; the build neither hangs nor stops the others", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": buildFile(
        `export const parricide = cmd({ outs: ["o"], cmd: "kill -KILL $PPID; sleep 0.2; echo late > $OUT/o" });`,
        ...Array.from({ length: 6 }, (_, i) => `export const ok${i} = cmd({ outs: ["o"], cmd: "echo ${i} > $OUT/o" });`),
      ),
    });
    // The directory sandbox: there $PPID is the helper shell (bwrap's namespace hides it).
    const run = await f.build(["-k", "-j", "3", "--sandbox", "dir"]);
    expect(run.code, show(run)).toBe(1);
    expect(run.failed).toEqual(["//p:parricide"]);
    expect(run.executed).toHaveLength(6);
    expect(run.stderr).toContain("command ended without a status: the /bin/sh running it exited before reporting its status");
    for (let i = 0; i < 6; i++) expect(f.read(`kiln-out/p/ok${i}/o`)).toBe(`${i}\n`);
    // The next build starts a new helper and runs only the failed step again.
    f.write({ "p/BUILD.ts": buildFile(`export const parricide = cmd({ outs: ["o"], cmd: "echo fixed > $OUT/o" });`) });
    const again = await f.build();
    expect(again.code, show(again)).toBe(0);
    expect(f.read("kiln-out/p/parricide/o")).toBe("fixed\n");
  });
});
