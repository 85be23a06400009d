/**
 * `kiln server`: builds handed to a resident session behave as builds in their own process do
 * (outputs, events, exit codes, the client's directory and environment, Ctrl-C), and every way
 * the server can be missing or gone leaves `kiln build` working.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, collect, makeWorkspace, processRunning, show, waitFor, WORKSPACE_TS, type Fixture } from "./harness.js";

const started: Fixture[] = [];
afterAll(async () => {
  for (const fx of started) await fx.kiln(["server", "stop"]);
  cleanupTempDirs();
});

const files = {
  "WORKSPACE.ts": WORKSPACE_TS,
  "a/data/one.csv": "1\n",
  "a/BUILD.ts": [
    `import { cmd } from "kiln";`,
    `export const joined = cmd({ srcs: ["data/*.csv"], outs: ["all.txt"], cmd: "cat $SRCS > $OUT/all.txt" });`,
    `export const greeting = cmd({ outs: ["hi.txt"], cmd: "echo $GREETING > $OUT/hi.txt", env: ["GREETING"] });`,
    `export const broken = cmd({ outs: ["x"], cmd: "echo no >&2; exit 3" });`,
    `export const slow = cmd({ outs: ["s.txt"], cmd: "sleep 30; echo s > $OUT/s.txt" });`,
  ].join("\n"),
};

function serverLog(fx: Fixture): string {
  const file = join(fx.ws, ".kiln", "server.log");
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** How many builds the server's log says it took (it logs a build once it is recorded, after its client is answered). */
async function served(fx: Fixture, expected: number): Promise<number> {
  const count = () => (serverLog(fx).match(/ build \d+: /g) ?? []).length;
  await waitFor(() => count() >= expected, 10_000);
  return count();
}

function recordPid(fx: Fixture): number {
  return JSON.parse(readFileSync(join(fx.ws, ".kiln", "server.json"), "utf8")).pid;
}

async function withServer(extra: string[] = []): Promise<Fixture> {
  const fx = makeWorkspace(files);
  started.push(fx);
  const start = await fx.kiln(["server", "start", ...extra]);
  expect(start.code, show(start)).toBe(0);
  expect(start.stdout).toMatch(/started the kiln server for .* \(pid \d+\)/);
  return fx;
}

describe("kiln server", () => {
  it("takes the builds: same events, outputs and exit codes as a build in its own process", async () => {
    const fx = await withServer();
    const status = await fx.kiln(["server", "status", "--json"]);
    expect(status.code, show(status)).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, builds: 0, pid: recordPid(fx) });
    // Builds run as this user with the client's environment: nobody else may hand it one.
    expect(statSync(join(fx.ws, ".kiln", "server.sock")).mode & 0o777).toBe(0o600);

    const first = await fx.build(["//a:joined", "//a:greeting"], { env: { GREETING: "hello" } });
    expect(first.code, show(first)).toBe(0);
    expect(first.executed).toEqual(["//a:greeting", "//a:joined"]);
    expect(fx.read("kiln-out/a/greeting/hi.txt")).toBe("hello\n");
    expect(await served(fx, 1)).toBe(1);

    // Up to date, answered by the server's own check: the events of a fully cached build.
    const again = await fx.build(["//a:joined", "//a:greeting"], { env: { GREETING: "hello" } });
    expect(again.summary).toMatchObject({ steps: 2, executed: 0, cached: 2 });
    expect(again.steps.map((s) => [s.label, s.key]).sort()).toEqual(first.steps.map((s) => [s.label, s.key]).sort());
    expect(await served(fx, 2)).toBe(2);

    // The client's environment, not the server's.
    const bonjour = await fx.build(["//a:greeting"], { env: { GREETING: "bonjour" } });
    expect(bonjour.executed).toEqual(["//a:greeting"]);
    expect(fx.read("kiln-out/a/greeting/hi.txt")).toBe("bonjour\n");

    // An edit, a new glob match: rebuilt from what the server keeps, exactly as a fresh process would.
    fx.write({ "a/data/two.csv": "2\n" });
    const globbed = await fx.build(["//a:joined"]);
    expect(globbed.executed).toEqual(["//a:joined"]);
    expect(fx.read("kiln-out/a/joined/all.txt")).toBe("1\n2\n");

    // kiln-out removed between two builds: the server restores into directories it made before.
    // (Found by the differential test: it believed them made, and the restore failed ENOENT.)
    rmSync(join(fx.ws, "kiln-out"), { recursive: true, force: true });
    const restored = await fx.build(["//a:joined"]);
    expect(restored.code, show(restored)).toBe(0);
    expect(restored.summary.executed).toBe(0);
    expect(fx.read("kiln-out/a/joined/all.txt")).toBe("1\n2\n");

    const failed = await fx.kiln(["build", "//a:broken"]);
    expect(failed.code, show(failed)).toBe(1);
    expect(failed.stderr).toContain("FAILED //a:broken");
    expect(failed.stderr).toContain("no");

    const unknown = await fx.kiln(["build", "//a:nope"]);
    expect(unknown.code, show(unknown)).toBe(2);
    expect(unknown.stderr).toMatch(/kiln: error: no target \/\/a:nope/);
    expect(await served(fx, 7)).toBe(7);

    // Flags that write files after the build: the server writes them where the client means.
    const written = await fx.kiln(["build", "//a:joined", "--provenance", "--profile", "trace.json"], { cwd: join(fx.ws, "a") });
    expect(written.code, show(written)).toBe(0);
    expect(JSON.parse(fx.read("kiln-out/a/joined.provenance.json"))._type).toBe("https://in-toto.io/Statement/v1");
    expect(JSON.parse(fx.read("a/trace.json")).traceEvents.length).toBeGreaterThan(0);
    expect(written.stderr).toContain("profile written to trace.json");
    expect(await served(fx, 8)).toBe(8);

    // `:name` and the outputs listed are the client's working directory's.
    const fromPackage = await fx.kiln(["build", ":joined"], { cwd: join(fx.ws, "a"), noWorkspaceFlag: true });
    expect(fromPackage.code, show(fromPackage)).toBe(0);
    expect(fromPackage.stdout).toContain("  ../kiln-out/a/joined/all.txt");
    expect(await served(fx, 9)).toBe(9);
  });

  it("stops a build on the client's Ctrl-C, and when the client is killed", async () => {
    const fx = await withServer();
    await fx.build(["//a:joined"]);
    const child = fx.spawnKiln(["build", "//a:slow"]);
    const done = collect(child);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    child.kill("SIGINT");
    const interrupted = await done;
    expect(interrupted.code, show(interrupted)).toBe(130);
    expect(interrupted.stderr).toContain("interrupted");

    const killed = fx.spawnKiln(["build", "//a:slow"]);
    const gone = collect(killed);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    killed.kill("SIGKILL");
    await gone;
    // The server stops that build too (the 30 s command is not waited for) and takes the next.
    const next = await fx.build(["//a:joined"]);
    expect(next.code, show(next)).toBe(0);
    expect(next.summary.executed).toBe(0);
    expect(await served(fx, 4)).toBe(4);
  }, 60_000);

  it("after a --no-server build, starts from the state that build left", async () => {
    const fx = await withServer();
    await fx.build(["//a:joined"]);
    fx.write({ "a/data/two.csv": "2\n" });
    const oneOff = await fx.build(["//a:joined", "--no-server"]);
    expect(oneOff.executed).toEqual(["//a:joined"]);
    expect(await served(fx, 1)).toBe(1);
    fx.write({ "a/data/three.csv": "3\n" });
    const viaServer = await fx.build(["//a:joined"]);
    expect(viaServer.executed).toEqual(["//a:joined"]);
    expect(fx.read("kiln-out/a/joined/all.txt")).toBe("1\n3\n2\n");
    expect(serverLog(fx)).toContain("state changed by another kiln process");
    // KILN_SERVER=0 is --no-server too.
    const byEnv = await fx.build(["//a:joined"], { env: { KILN_SERVER: "0" } });
    expect(byEnv.summary.executed).toBe(0);
    expect(await served(fx, 2)).toBe(2);
  });

  it("a killed server is forgotten quietly; stop, status and start say what runs", async () => {
    const fx = await withServer();
    const again = await fx.kiln(["server", "start"]);
    expect(again.stdout).toContain("already runs");
    const pid = recordPid(fx);
    process.kill(pid, "SIGKILL");
    await waitFor(() => !processRunning(pid), 5000);
    const build = await fx.build(["//a:joined"]);
    expect(build.code, show(build)).toBe(0);
    expect(build.executed).toEqual(["//a:joined"]);
    expect(build.stderr).not.toContain("warning");
    expect(existsSync(join(fx.ws, ".kiln", "server.json"))).toBe(false);

    // A record whose pid runs but is no server (a pid reused after a reboot): forgotten, with a note.
    const impostor = spawn("sleep", ["30"]);
    try {
      const socket = join(fx.ws, ".kiln", "server.sock");
      writeFileSync(join(fx.ws, ".kiln", "server.json"), JSON.stringify({ pid: impostor.pid, socket, build: "x", root: fx.ws, startedAt: "", idleTimeoutMs: 1 }));
      const fooled = await fx.build(["//a:joined"]);
      expect(fooled.code, show(fooled)).toBe(0);
      expect(fooled.stderr).toContain(`nothing listens on the kiln server's socket (pid ${impostor.pid} is not it)`);
      expect(existsSync(join(fx.ws, ".kiln", "server.json"))).toBe(false);
    } finally {
      impostor.kill();
    }

    const restarted = await fx.kiln(["server", "start"]);
    expect(restarted.code, show(restarted)).toBe(0);
    const stop = await fx.kiln(["server", "stop"]);
    expect(stop.code, show(stop)).toBe(0);
    expect(stop.stdout).toContain("stopped the kiln server");
    const status = await fx.kiln(["server", "status"]);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain("no kiln server runs");
    expect(existsSync(join(fx.ws, ".kiln", "server.sock"))).toBe(false);

    // kiln clean removes the state a server holds too: the server ends first, and makes no .kiln again.
    await fx.kiln(["server", "start"]);
    const cleanedPid = recordPid(fx);
    const clean = await fx.kiln(["clean"]);
    expect(clean.code, show(clean)).toBe(0);
    expect(processRunning(cleanedPid)).toBe(false);
    expect(existsSync(join(fx.ws, ".kiln"))).toBe(false);
  });

  it("listens where a socket's address fits when the workspace path is too long for one", async () => {
    const outer = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS });
    const deep = join(outer.ws, "a-directory-name-long-enough".repeat(3), "ws");
    outer.write(Object.fromEntries(Object.entries(files).map(([path, text]) => [join(deep.slice(outer.ws.length + 1), path), text])));
    const run = (args: string[]) => outer.kiln([...args, "-C", deep], { noWorkspaceFlag: true });
    const start = await run(["server", "start"]);
    expect(start.code, show(start)).toBe(0);
    try {
      const socket = JSON.parse(readFileSync(join(deep, ".kiln", "server.json"), "utf8")).socket as string;
      expect(Buffer.byteLength(socket)).toBeLessThanOrEqual(100);
      expect(socket.startsWith(deep)).toBe(false);
      const build = await run(["build", "//a:joined"]);
      expect(build.code, show(build)).toBe(0);
      // Logged once the build is recorded, after the client was answered.
      expect(await waitFor(() => / build 1: /.test(readFileSync(join(deep, ".kiln", "server.log"), "utf8")), 10_000)).toBe(true);
    } finally {
      await run(["server", "stop"]);
    }
  });

  it("kiln server run: in the foreground until Ctrl-C, logging to stderr", async () => {
    const fx = makeWorkspace(files);
    const child = fx.spawnKiln(["server", "run"]);
    const done = collect(child);
    const record = join(fx.ws, ".kiln", "server.json");
    expect(await waitFor(() => existsSync(record), 10_000)).toBe(true);
    const build = await fx.build(["//a:joined"]);
    expect(build.executed).toEqual(["//a:joined"]);
    child.kill("SIGINT");
    const ended = await done;
    expect(ended.code, show(ended)).toBe(0);
    // The build may still be recording itself when the signal comes: it finishes first.
    const lines = ended.stderr.trimEnd().split("\n").map((line) => line.replace(/^\S+ kiln server: /, ""));
    expect(lines[0]).toMatch(/^listening on .*server\.sock \(pid \d+, /);
    expect(lines).toHaveLength(4);
    expect(lines.slice(1, 3)).toContain("SIGINT: stopping");
    expect(lines.slice(1, 3).some((line) => /^build 1: build \/\/a:joined in \d+ ms$/.test(line))).toBe(true);
    expect(lines[3]).toBe("stopped");
    expect(existsSync(record)).toBe(false);
  });

  it("ends itself when idle, and refuses a bad --idle-timeout", async () => {
    const bad = makeWorkspace(files);
    const refused = await bad.kiln(["server", "start", "--idle-timeout", "soon"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--idle-timeout takes minutes");

    const fx = await withServer(["--idle-timeout", "0.02"]);
    const pid = recordPid(fx);
    expect(await waitFor(() => !processRunning(pid), 10_000)).toBe(true);
    expect(serverLog(fx)).toContain("idle for");
    expect(existsSync(join(fx.ws, ".kiln", "server.json"))).toBe(false);
    const build = await fx.build(["//a:joined"]);
    expect(build.code, show(build)).toBe(0);
  }, 30_000);
});
