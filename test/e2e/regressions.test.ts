/**
 * Bugs found by the differential test (test/e2e/differential.test.ts) or reported, each pinned as a
 * plain deterministic e2e test named after what went wrong, with the smallest workspace that shows it.
 */
import { createHash, randomBytes } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SPARE_REUSE_SIZE } from "../../src/size-thresholds.js";
import { cleanupTempDirs, makeTempDir, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const readText = (path: string) => readFileSync(path, "utf8");
const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

describe("regressions", () => {
  // Issue 16: a parked sandbox's manifest was trusted without a look. A copy of the workspace made
  // by a tool that leaves out every `kiln-out` directory (as `.gitignore`'s `kiln-out/` matches at
  // any depth) kept `.kiln/` and lost the sandboxes' own kiln-out/: the next build, its cache
  // empty (a fresh machine, or every remote blob refused), ran commands with no $OUT
  // ("Directory nonexistent") or failed to link their inputs.
  it("regression: a parked sandbox that lost its kiln-out directories is surveyed, not trusted", async () => {
    const build = [
      `import { cmd } from "kiln";`,
      `export const a = cmd({ srcs: ["in.txt"], outs: ["up.txt"], cmd: "tr a-z A-Z < $SRCS > $OUT/up.txt" });`,
      `export const b = cmd({ srcs: [":a"], outs: ["b.txt"], cmd: "cat $SRCS $SRCS > $OUT/b.txt" });`,
      ``,
    ].join("\n");
    const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "p/in.txt": "hi\n", "p/BUILD.ts": build });
    const first = await f.build([]);
    expect(first.code, show(first)).toBe(0);
    const copy = join(makeTempDir(), "ws");
    mkdirSync(copy);
    cpSync(f.ws, copy, { recursive: true, filter: (src) => !src.split("/").includes("kiln-out") });
    const g = makeWorkspace({}, { cache: join(copy, "..", "fresh-cache") });
    const run = await g.kiln(["build", "--json", "-C", copy], { noWorkspaceFlag: true });
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout.match(/"status":"executed"/g)).toHaveLength(2);
    expect(readText(join(copy, "kiln-out/p/b/b.txt"))).toBe("HI\nHI\n");
  });

  it("regression: a >1 MiB source shared by two targets is present in a reused sandbox", async () => {
    // Cold build, one job: the second target takes over the first one's sandbox, and its copy of
    // the shared source (over the spare-reuse size) was missing; the command ran without its input.
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const h = cmd({ srcs: ["s.bin"], outs: ["h.txt"], cmd: "sha256sum p/s.bin | cut -c1-64 > $OUT/h.txt" });`,
        `export const n = cmd({ srcs: ["s.bin"], outs: ["n.txt"], cmd: "wc -c < p/s.bin > $OUT/n.txt" });`,
        ``,
      ].join("\n"),
    });
    const source = randomBytes(3_000_000);
    expect(source.length).toBeGreaterThan(SPARE_REUSE_SIZE);
    writeFileSync(join(f.ws, "p/s.bin"), source);

    const run = await f.build(["//p:all", "-j1"]);
    expect(run.code, show(run)).toBe(0);
    expect(f.read("kiln-out/p/h/h.txt")).toBe(`${sha256(source)}\n`);
    expect(f.read("kiln-out/p/n/n.txt")).toBe("3000000\n");
  });

  // A target rebuilt after its >1 MiB source changed gets its own parked sandbox back, and the new
  // copy of the source was not in it: `wc -c <` failed, `cat 2>/dev/null | wc -c` cached 0.
  for (const command of ["wc -c < p/big.bin > $OUT/n.txt", "cat p/big.bin 2>/dev/null | wc -c > $OUT/n.txt"]) {
    it(`regression: a target rebuilt after its 2 MB source was edited reads the new source (${command.split(" ")[0]})`, async () => {
      const f = makeWorkspace({
        "WORKSPACE.ts": WORKSPACE_TS,
        "p/BUILD.ts": `import { cmd } from "kiln";\nexport const n = cmd({ srcs: ["big.bin"], outs: ["n.txt"], cmd: ${JSON.stringify(command)} });\n`,
      });
      writeFileSync(join(f.ws, "p/big.bin"), randomBytes(2_000_000));
      const first = await f.build(["-j1"]);
      expect(first.code, show(first)).toBe(0);
      expect(f.read("kiln-out/p/n/n.txt")).toBe("2000000\n");

      writeFileSync(join(f.ws, "p/big.bin"), randomBytes(2_000_000));
      const second = await f.build(["-j1"]);
      expect(second.code, show(second)).toBe(0);
      expect(second.executed).toEqual(["//p:n"]);
      expect(f.read("kiln-out/p/n/n.txt")).toBe("2000000\n");
    });
  }

  it("regression: a 1 MiB+1 glob-matched file edited in place reaches the sandbox of the target rebuilt over it", async () => {
    // Found by the differential test (seed 1521232028), shrunk: t1 reran after its glob input
    // changed, but its sandbox held only the empty source; sha256sum printed one digest, not two.
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/s0.bin": "",
      "p/data/.keep": "",
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const t0 = cmd({ srcs: ["s0.bin"], outs: ["h.txt"], cmd: "sha256sum $SRCS | cut -c1-64 > $OUT/h.txt" });`,
        `export const t1 = cmd({ srcs: ["data/*.bin", "s0.bin"], outs: ["h.txt"], cmd: "sha256sum $SRCS | cut -c1-64 > $OUT/h.txt" });`,
        `export const t2 = cmd({ srcs: ["s0.bin"], outs: ["h.txt"], cmd: "sha256sum $SRCS | cut -c1-64 > $OUT/h.txt" });`,
        ``,
      ].join("\n"),
    });
    const glob = randomBytes(SPARE_REUSE_SIZE + 1);
    writeFileSync(join(f.ws, "p/data/g0.bin"), glob);
    const first = await f.build(["-j2"]);
    expect(first.code, show(first)).toBe(0);

    // Same size, first byte changed, written in place; the fuzzer also put the old mtime back.
    const before = statSync(join(f.ws, "p/data/g0.bin"));
    glob[0] = glob[0]! ^ 0x5a;
    writeFileSync(join(f.ws, "p/data/g0.bin"), glob);
    utimesSync(join(f.ws, "p/data/g0.bin"), before.atime, before.mtime);
    const second = await f.build(["-j1"]);
    expect(second.code, show(second)).toBe(0);
    expect(f.read("kiln-out/p/t1/h.txt")).toBe(`${sha256(glob)}\n${sha256(Buffer.alloc(0))}\n`);
  });

  it("regression: a same-size edit that keeps the file's mtime reruns the targets that read it", async () => {
    // `cp -p`, `rsync -t`, `git checkout` of a file edited within the same second: the bytes change,
    // size and mtime do not (ctime does). The build reran nothing and kept the stale output.
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/s.txt": "aaaa\n",
      "p/BUILD.ts": `import { cmd } from "kiln";\nexport const c = cmd({ srcs: ["s.txt"], outs: ["c.txt"], cmd: "cat p/s.txt > $OUT/c.txt" });\n`,
    });
    // Written an hour ago, as real sources are: not within any racy-timestamp window of the build.
    const file = join(f.ws, "p/s.txt");
    const anHourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(file, anHourAgo, anHourAgo);
    const first = await f.build(["-j1"]);
    expect(first.code, show(first)).toBe(0);
    expect(f.read("kiln-out/p/c/c.txt")).toBe("aaaa\n");

    const before = statSync(file);
    writeFileSync(file, "bbbb\n");
    utimesSync(file, before.atime, before.mtime);
    const second = await f.build(["-j1"]);
    expect(second.code, show(second)).toBe(0);
    expect(second.executed).toEqual(["//p:c"]);
    expect(f.read("kiln-out/p/c/c.txt")).toBe("bbbb\n");
  });
});
