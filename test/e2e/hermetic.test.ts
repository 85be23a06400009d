/**
 * What a `cmd` step can reach, in both sandbox modes. The namespace sandbox (bwrap, the default
 * where it works) hides everything but the declared inputs, the system's programs and the step's
 * own $OUT and temp dir: no undeclared workspace file by any path, no HOME, no network, no write
 * outside $OUT. The directory sandbox (--sandbox=dir, the fallback) only lays out the declared
 * inputs: undeclared files are absent at their workspace paths, and HOME is the step's own, but
 * absolute paths and the network are not hidden (README says so).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeTempDir, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

const bwrapWorks = spawnSync("bwrap", ["--ro-bind", "/", "/", "true"]).status === 0;
const unshareWorks = spawnSync("unshare", [...(process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"]), "--mount", "--net", "--pid", "--fork", "true"]).status === 0;
/** The namespace sandboxes this machine can make: each must hide the same things. */
const NAMESPACE_MODES = [...(bwrapWorks ? ["bwrap"] : []), ...(unshareWorks ? ["unshare"] : [])];

let server: Server;
let port = 0;
beforeAll(async () => {
  server = createServer((socket) => {
    socket.on("error", () => {}); // the probe hangs up without reading
    socket.end("hello from the host\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(() => {
  server.close();
  cleanupTempDirs();
});

/** A command that reports whether it could do something, instead of failing. */
const attempt = (what: string, shell: string) => `if ${shell} >/dev/null 2>&1; then echo "${what}: yes"; else echo "${what}: no"; fi`;

function probeWorkspace(secretHome: string, network = false) {
  const probes = [
    attempt("relative undeclared", "cat p/undeclared.txt"),
    attempt("escape to workspace", "cat ../../../secret.txt"),
    attempt("absolute workspace", "cat \"$WS/secret.txt\""),
    attempt("caller home", `cat ${secretHome}/.secret`),
    attempt("write outside", "sh -c 'echo x > ../../escaped.txt'"),
    // Any process this one can see (a neighbour's, the helper's, the host's): its root, its cwd.
    attempt("proc root", `sh -c 'for p in /proc/[0-9]*; do cat "$p/root$WS/secret.txt" && exit 0; cat "$p/cwd/../../../secret.txt" && exit 0; done; exit 1'`),
    attempt("network", `python3 -c "import socket; socket.create_connection(('127.0.0.1', ${port}), 2)"`),
  ].join("; ");
  return {
    "WORKSPACE.ts": WORKSPACE_TS,
    "secret.txt": "workspace secret\n",
    "p/undeclared.txt": "not declared\n",
    "p/declared.txt": "declared\n",
    "p/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const probe = cmd({ srcs: ["declared.txt"], outs: ["report.txt"], env: ["WS"], network: ${network}, cmd: ${JSON.stringify(`(cat p/declared.txt; ${probes}) > $OUT/report.txt`)} });`,
      ``,
    ].join("\n"),
  };
}

function setUp(network = false) {
  const home = makeTempDir("kiln-home-");
  writeFileSync(join(home, ".secret"), "home secret\n");
  const fx = makeWorkspace(probeWorkspace(home, network));
  return { fx, env: { WS: fx.ws, HOME: home } };
}

describe.each(NAMESPACE_MODES)("the namespace sandbox (%s)", (mode) => {
  it("hides undeclared files by any path, the caller's HOME and the network; writes outside $OUT fail", async () => {
    const { fx, env } = setUp();
    const run = await fx.kiln(["build", "--sandbox", mode], { env });
    expect(run.code, show(run)).toBe(0);
    const report = fx.read("kiln-out/p/probe/report.txt");
    expect(report).toBe(
      [
        "declared",
        "relative undeclared: no",
        "escape to workspace: no",
        "absolute workspace: no",
        "caller home: no",
        report.includes("write outside: yes") ? "write outside: yes" : "write outside: no",
        "proc root: no",
        "network: no",
        "",
      ].join("\n"),
    );
    expect(existsSync(join(fx.ws, ".kiln/escaped.txt"))).toBe(false);
    const why = await fx.kiln(["why", "//p:probe"]);
    expect(why.stdout).toContain(`ran in: namespace sandbox (${mode}), without network`);
  });

  it("a neighbour running at the same time cannot be reached; what a job leaves in /tmp or running is gone for the next", async () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        // The neighbour: sleeps with a secret in its sandbox, so the spy may look while it runs.
        `export const slow = cmd({ srcs: ["mine.txt"], outs: ["s.txt"], cmd: "sleep 1; cat p/mine.txt > $OUT/s.txt" });`,
        `export const spy = cmd({ outs: ["r.txt"], cmd: ${JSON.stringify(
          `(sleep 0.3; ls /proc | grep -c '^[0-9]' ; for p in /proc/[0-9]*; do cat $p/root/*/p/mine.txt $p/cwd/p/mine.txt; done; find / -name mine.txt 2>/dev/null; echo end) > $OUT/r.txt 2>/dev/null; echo planted > /tmp/planted; (sleep 5; echo late > /tmp/late) &`,
        )} });`,
        `export const after = cmd({ srcs: [":spy", ":slow"], outs: ["a.txt"], cmd: "sleep 0.1; ls -A /tmp > $OUT/a.txt" });`,
        ``,
      ].join("\n"),
      "p/mine.txt": "the neighbour's secret\n",
    });
    const run = await fx.kiln(["build", "//p:spy", "//p:slow", "--sandbox", mode, "-j2"]);
    expect(run.code, show(run)).toBe(0);
    const spied = fx.read("kiln-out/p/spy/r.txt");
    expect(spied).not.toContain("secret");
    expect(spied).toContain("end");
    // One job at a time: `after` runs where `spy` ran just before it (in unshare mode, one helper's namespace).
    const serial = await fx.kiln(["build", "//p:after", "--sandbox", mode, "-j1", "--no-cache"]);
    expect(serial.code, show(serial)).toBe(0);
    const tmpEntries = fx.read("kiln-out/p/after/a.txt").split("\n").filter(Boolean);
    expect(tmpEntries).not.toContain("planted");
    expect(tmpEntries).not.toContain("late");
  });

  it("a symbolic link planted in $OUT fails the step naming it, and nothing outside is touched", async () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "secret.txt": "workspace secret\n",
      "p/BUILD.ts": `import { cmd } from "kiln";\nexport const l = cmd({ outs: ["o.txt"], env: ["WS"], cmd: "ln -s $WS/secret.txt $OUT/o.txt" });\n`,
    });
    const run = await fx.kiln(["build", "--sandbox", mode], { env: { WS: fx.ws } });
    expect(run.code, show(run)).toBe(1);
    expect(run.stderr).toMatch(/o\.txt is a symbolic link/);
    expect(fx.read("secret.txt")).toBe("workspace secret\n");
  });

  it("network: true keeps the network, and the result says so", async () => {
    const { fx, env } = setUp(true);
    const run = await fx.kiln(["build", "--sandbox", mode], { env });
    expect(run.code, show(run)).toBe(0);
    expect(fx.read("kiln-out/p/probe/report.txt")).toContain("network: yes");
    expect(fx.read("kiln-out/p/probe/report.txt")).toContain("absolute workspace: no");
    const why = await fx.kiln(["why", "//p:probe"]);
    expect(why.stdout).toContain(`ran in: namespace sandbox (${mode}), with the network (network: true)`);
    const provenance = await fx.kiln(["provenance", "//p:probe"]);
    expect(provenance.code, show(provenance)).toBe(0);
    const steps = JSON.parse(provenance.stdout).predicate.buildDefinition.internalParameters.steps as { label: string; sandbox?: string; network?: boolean }[];
    expect(steps).toEqual([expect.objectContaining({ label: "//p:probe", sandbox: mode, network: true })]);
  });

  it("a declared tool outside the system directories runs (its install root is bound read-only)", async () => {
    const toolRoot = makeTempDir("kiln-tool-");
    mkdirSync(join(toolRoot, "bin"));
    writeFileSync(join(toolRoot, "bin", "greet"), "#!/bin/sh\necho \"greetings ($1)\"\n", { mode: 0o755 });
    writeFileSync(join(toolRoot, "share.txt"), "shared\n");
    const fx = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": `import { cmd } from "kiln";\nexport const t = cmd({ outs: ["o.txt"], tools: ["greet"], cmd: "greet v1 > $OUT/o.txt" });\n`,
    });
    const run = await fx.kiln(["build", "--sandbox", mode], { env: { PATH: `${join(toolRoot, "bin")}:${process.env.PATH}` } });
    expect(run.code, show(run)).toBe(0);
    expect(fx.read("kiln-out/p/t/o.txt")).toBe("greetings (v1)\n");
  });

  it("regression: a declared tool in a directory just under /tmp is bound alone, not the host's /tmp", async () => {
    // <dir>/greet with no bin/ above it: "two levels up" was /tmp itself, so the host's /tmp was
    // bound over the private one (a step could read all of it), and the helper's scrub of /tmp
    // then deleted the step's own files (tools/path-without.sh's farm of links did this).
    const toolDir = makeTempDir("kiln-tool-");
    writeFileSync(join(toolDir, "greet"), "#!/bin/sh\necho \"greetings ($1)\"\n", { mode: 0o755 });
    const secret = join(makeTempDir("kiln-host-tmp-"), "secret.txt");
    writeFileSync(secret, "host\n");
    const fx = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts":
        `import { cmd } from "kiln";\n` +
        `export const t = cmd({ outs: ["o.txt"], tools: ["greet"], cmd: "greet v1 > $OUT/o.txt; if [ -e ${secret} ]; then echo seen; else echo hidden; fi >> $OUT/o.txt" });\n`,
    });
    const run = await fx.kiln(["build", "--sandbox", mode], { env: { PATH: `${toolDir}:${process.env.PATH}` } });
    expect(run.code, show(run)).toBe(0);
    expect(fx.read("kiln-out/p/t/o.txt")).toBe("greetings (v1)\nhidden\n");
  });
});

describe("the directory sandbox (--sandbox=dir)", () => {
  it("lays out only declared inputs and gives the step its own HOME; absolute paths and the network are not hidden", async () => {
    const { fx, env } = setUp();
    const run = await fx.kiln(["build", "--sandbox", "dir"], { env });
    expect(run.code, show(run)).toBe(0);
    const report = fx.read("kiln-out/p/probe/report.txt");
    expect(report).toContain("declared\n");
    expect(report).toContain("relative undeclared: no");
    // $HOME is the sandbox's: the caller's is reachable only by its absolute path.
    expect(report).toContain("absolute workspace: yes");
    expect(report).toContain("network: yes");
    const why = await fx.kiln(["why", "//p:probe"]);
    expect(why.stdout).toContain("ran in: directory sandbox (not isolated from the rest of the machine)");
  });
});

describe("choosing the sandbox", () => {
  it("--sandbox=bwrap or strict where no namespace can be made fails with exit 2 saying why; auto falls back with one loud warning", async () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": `import { cmd } from "kiln";\nexport const a = cmd({ outs: ["a.txt"], cmd: "echo a > $OUT/a.txt" });\nexport const b = cmd({ outs: ["b.txt"], cmd: "echo b > $OUT/b.txt" });\n`,
    });
    // A PATH with node but without bwrap: kiln looks for bwrap on its own PATH.
    const nodeOnly = makeTempDir("kiln-node-only-");
    symlinkSync(process.execPath, join(nodeOnly, "node"));
    const noBwrap = { PATH: nodeOnly };
    const bwrapOnly = await fx.kiln(["build", "--sandbox", "bwrap", "-k"], { env: noBwrap });
    expect(bwrapOnly.code, show(bwrapOnly)).toBe(2);
    expect(bwrapOnly.stderr).toContain("--sandbox=bwrap, but the namespace sandbox is unavailable here: bwrap is not installed");
    // Neither bwrap nor util-linux on PATH: strict refuses, naming both; auto builds, loudly.
    const strict = await fx.kiln(["build", "--sandbox", "strict"], { env: noBwrap });
    expect(strict.code, show(strict)).toBe(2);
    expect(strict.stderr).toMatch(/--sandbox=strict, but the namespace sandbox is unavailable here: unshare, setpriv, mount not found on PATH .*bwrap is not installed/);
    expect(existsSync(join(fx.ws, "kiln-out/p/a/a.txt"))).toBe(false);
    const auto = await fx.kiln(["build"], { env: noBwrap });
    expect(auto.code, show(auto)).toBe(0);
    expect(auto.stderr.match(/^warning: NOT HERMETIC: no namespace sandbox can be made here .*kiln doctor/gm), show(auto)).toHaveLength(1);
    expect(fx.read("kiln-out/p/a/a.txt")).toBe("a\n");
    // WORKSPACE.ts can ask for strict; the flag still wins.
    fx.write({ "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "t", sandbox: "strict" });\n`, "p/BUILD.ts": `import { cmd } from "kiln";\nexport const a = cmd({ outs: ["a.txt"], cmd: "echo a2 > $OUT/a.txt" });\n` });
    const fromWorkspace = await fx.kiln(["build"], { env: noBwrap });
    expect(fromWorkspace.code, show(fromWorkspace)).toBe(2);
    expect(fromWorkspace.stderr).toContain("--sandbox=strict, but the namespace sandbox is unavailable here");
    const overridden = await fx.kiln(["build", "--sandbox", "dir"], { env: noBwrap });
    expect(overridden.code, show(overridden)).toBe(0);
    expect(fx.read("kiln-out/p/a/a.txt")).toBe("a2\n");
  });

  it("kiln doctor names the mode auto will use and why; with no namespace tool, NOT HERMETIC and each fix", async () => {
    const fx = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS });
    const here = await fx.kiln(["doctor"]);
    expect(here.code, show(here)).toBe(0);
    const expected = unshareWorks ? "unshare" : bwrapWorks ? "bubblewrap" : "the directory sandbox alone";
    expect(here.stdout).toMatch(new RegExp(`^sandbox: --sandbox=auto uses .*${expected}`, "m"));
    const nodeOnly = makeTempDir("kiln-node-only-");
    symlinkSync(process.execPath, join(nodeOnly, "node"));
    const bare = await fx.kiln(["doctor"], { env: { PATH: nodeOnly } });
    expect(bare.code, show(bare)).toBe(0);
    expect(bare.stdout).toMatch(/^sandbox: --sandbox=auto uses the directory sandbox alone \(NOT hermetic\)$/m);
    expect(bare.stdout).toMatch(/^  unshare: unavailable: unshare, setpriv, mount not found on PATH/m);
    expect(bare.stdout).toMatch(/fix: install util-linux/);
    expect(bare.stdout).toMatch(/fix: apt-get install bubblewrap/);
    expect(bare.stdout).toContain("--sandbox=strict");
  });

  it("a WORKSPACE.ts sandbox that is not a mode is an input error (exit 2) naming the choices", async () => {
    const fx = makeWorkspace({
      "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "t", sandbox: "tight" as any });\n`,
      "p/BUILD.ts": `import { cmd } from "kiln";\nexport const a = cmd({ outs: ["a.txt"], cmd: "echo a > $OUT/a.txt" });\n`,
    });
    const run = await fx.kiln(["build"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain('WORKSPACE.ts: sandbox must be one of "auto", "strict", "bwrap", "unshare", "dir", not "tight"');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
