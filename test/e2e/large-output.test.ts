/**
 * A 2 GiB output builds without kiln holding it in memory: hashed in 1 MiB chunks, moved into the
 * store by link, linked (not copied) into its dependant's sandbox. Peak RSS comes from
 * /usr/bin/time (installed by .ci/run), so the assertion is on kiln's own process.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, KILN_BIN, makeWorkspace } from "./harness.js";

const GIB = 1024 ** 3;
const hasTime = existsSync("/usr/bin/time");

afterAll(cleanupTempDirs);

describe.runIf(hasTime)("large outputs", () => {
  it("a 2 GiB output builds and feeds a dependant in under 300 MB of kiln memory", () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "big" });\n`,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const big = cmd({ outs: ["big.bin"], cmd: "head -c 2G /dev/zero > $OUT/big.bin" });`,
        `export const size = cmd({ srcs: [":big"], outs: ["size.txt"], cmd: "wc -c < $SRCS > $OUT/size.txt" });`,
      ].join("\n"),
    });
    const run = spawnSync("/usr/bin/time", ["-f", "maxrss_kb=%M", KILN_BIN, "build", "--json", "-C", fx.ws], {
      env: { ...process.env, KILN_CACHE_DIR: fx.cache },
      encoding: "utf8",
    });
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
    expect(summary).toMatchObject({ steps: 2, executed: 2, failed: 0 });
    expect(statSync(fx.out("p", "big", "big.bin")).size).toBe(2 * GIB);
    expect(fx.read("kiln-out/p/size/size.txt").trim()).toBe(String(2 * GIB));
    const maxRssKb = Number(/maxrss_kb=(\d+)/.exec(run.stderr)![1]);
    expect(maxRssKb).toBeLessThan(300 * 1024);
    // The store names the blob by its real digest, as sha256sum computes it.
    const digest = execFileSync("sha256sum", [fx.out("p", "big", "big.bin")], { encoding: "utf8" }).split(" ")[0]!;
    expect(existsSync(join(fx.cache, "cas", digest.slice(0, 2), digest))).toBe(true);
  }, 120_000);

  it("a command printing 1 GiB to stdout and failing costs kiln no more memory, and its log keeps head and tail", () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "loud" });\n`,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const loud = cmd({ outs: ["o.txt"], cmd: "echo first; head -c 1G /dev/zero | tr '\\\\0' x; echo; echo last-words >&2; exit 3" });`,
      ].join("\n"),
    });
    const run = spawnSync("/usr/bin/time", ["-f", "maxrss_kb=%M", KILN_BIN, "build", "-C", fx.ws], {
      env: { ...process.env, KILN_CACHE_DIR: fx.cache },
      encoding: "utf8",
    });
    expect(run.status, run.stderr).toBe(1);
    expect(run.stderr).toContain("FAILED //p:loud: command exited with code 3");
    expect(run.stderr).toContain("last-words");
    const logPath = /full log: (\S+)/.exec(run.stderr)![1]!;
    const log = readFileSync(logPath, "utf8");
    expect(log.startsWith("first\n")).toBe(true);
    expect(log).toMatch(/\[kiln: \d+ bytes of this output left out of the log\]/);
    expect(log.length).toBeLessThan(3 << 20);
    const maxRssKb = Number(/maxrss_kb=(\d+)/.exec(run.stderr)![1]);
    expect(maxRssKb).toBeLessThan(300 * 1024);
  }, 120_000);
});
