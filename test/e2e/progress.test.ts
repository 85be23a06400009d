/**
 * Progress output: on a terminal (a real pty, made by util-linux's `script`) the status block
 * shows done/total, the running steps with elapsed times and, once earlier runs are known, an
 * ETA; colour unless NO_COLOR. On a pipe or with CI=true, plain timestamped lines; -q prints the
 * summary only.
 */
import { spawn } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, collect, KILN_BIN, makeWorkspace, show, WORKSPACE_TS, type RunResult } from "./harness.js";

afterAll(cleanupTempDirs);

const BUILD = `import { cmd } from "kiln";
export const a = cmd({ outs: ["o"], cmd: "sleep 0.5; echo a > $OUT/o" });
export const b = cmd({ outs: ["o"], cmd: "sleep 0.7; echo b > $OUT/o" });
export const c = cmd({ srcs: { a: ":a", b: ":b" }, outs: ["o"], cmd: "cat $SRCS > $OUT/o" });
`;

const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS, "p/BUILD.ts": BUILD });
const shellQuote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** kiln on a pseudo-terminal: `script` gives it one and copies what it writes to our pipe. */
function onTerminal(args: string[], env: Record<string, string | undefined>): Promise<RunResult> {
  const command = [KILN_BIN, ...args, "-C", f.ws].map(shellQuote).join(" ");
  const merged: NodeJS.ProcessEnv = { ...process.env, KILN_CACHE_DIR: f.cache, TERM: "xterm", COLUMNS: "120" };
  delete merged.CI;
  delete merged.NO_COLOR;
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  return collect(spawn("script", ["-qfec", command, "/dev/null"], { cwd: f.ws, env: merged, stdio: ["ignore", "pipe", "pipe"] }));
}

const ANSI_COLOUR = /\x1b\[(?:2|32|1;31)m/;
const TIMESTAMPED = /^\d\d:\d\d:\d\d \[\d\/3\] built \/\/p:[abc] in \d+\.\d\ds$/m;

describe("progress", () => {
  it("on a terminal: running steps with elapsed times, done/total, colour; an ETA once earlier runs are known", async () => {
    const first = await onTerminal(["build", "-j", "2"], {});
    expect(first.code, show(first)).toBe(0);
    expect(first.stdout).toMatch(/\[0\/3\] 2 running/);
    expect(first.stdout).toMatch(/\d\.\ds(\x1b\[0m)?  \/\/p:b/);
    expect(first.stdout).toMatch(ANSI_COLOUR);
    expect(first.stdout).not.toContain("ETA");
    expect(first.stdout).not.toMatch(TIMESTAMPED);
    const second = await onTerminal(["build", "-j", "2", "--no-cache"], {});
    expect(second.stdout).toMatch(/\[0\/3\] \d running, ETA \d\.\ds/);
    expect(second.stdout).toContain("kiln: 3 steps, 3 executed");
  });

  it("NO_COLOR keeps the status block and drops the colour", async () => {
    const run = await onTerminal(["build", "-j", "2", "--no-cache"], { NO_COLOR: "1" });
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toMatch(/running, ETA \d+\.\ds/);
    expect(run.stdout).not.toMatch(ANSI_COLOUR);
  });

  it("with CI=true, even on a terminal, and on a pipe: plain timestamped lines, no escapes", async () => {
    const ci = await onTerminal(["build", "--no-cache"], { CI: "true" });
    expect(ci.code, show(ci)).toBe(0);
    expect(ci.stdout.replace(/\r/g, "")).toMatch(TIMESTAMPED);
    expect(ci.stdout).not.toContain("\x1b[");
    const piped = await f.kiln(["build", "--no-cache"]);
    expect(piped.stdout).toMatch(TIMESTAMPED);
    expect(piped.stdout.match(/ built /g)).toHaveLength(3);
    expect(piped.stdout + piped.stderr).not.toContain("\x1b[");
  });

  it("-q: the summary line only", async () => {
    const run = await f.kiln(["build", "-q", "--no-cache"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toMatch(/^kiln: 3 steps, 3 executed, 0 cached \(0 local, 0 remote\), 0 failed in \d+\.\d\ds\n$/);
    expect(run.stderr.split("\n").filter((line) => line && !line.startsWith("warning: NOT HERMETIC"))).toEqual([]);
    // The no-op answered by the up-to-date stamp (before commander) is quiet too.
    expect((await f.kiln(["build", "-q"])).code).toBe(0); // records the stamp
    const noop = await f.kiln(["build", "-q"]);
    expect(noop.stdout).toMatch(/^kiln: 3 steps, 0 executed, 3 cached \(3 local, 0 remote\), 0 failed in \d+\.\d\ds\n$/);
    const loud = await f.kiln(["build"]);
    expect(loud.stdout).toContain("cached: //p:a, //p:b, //p:c");
  });
});

// Last: its builds change the shared workspace's history, which the tests above read.
describe("the kiln server hint", () => {
  it("on a terminal, a one-off build of a large workspace suggests kiln server; a pipe and -q do not", async () => {
    const env = { KILN_SERVER_HINT_FROM: "3" };
    // --explain: past the fast path (an up-to-date answer reads no targets and never hints).
    const terminal = await onTerminal(["build", "--explain"], env);
    expect(terminal.code, show(terminal)).toBe(0);
    expect(terminal.stdout).toMatch(/kiln: hint: 3 targets are read from \.kiln\/ on every build; `kiln server start` keeps them in memory/);
    const quiet = await onTerminal(["build", "--explain", "-q"], env);
    expect(quiet.code, show(quiet)).toBe(0);
    expect(quiet.stdout).not.toContain("kiln: hint:");
    const piped = await f.kiln(["build", "--explain"], { env });
    expect(piped.code, show(piped)).toBe(0);
    expect(piped.stderr).not.toContain("kiln: hint:");
    const small = await onTerminal(["build", "--explain"], { KILN_SERVER_HINT_FROM: "4" });
    expect(small.code, show(small)).toBe(0);
    expect(small.stdout).not.toContain("kiln: hint:");
  });
});
