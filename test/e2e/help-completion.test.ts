/**
 * Help teaches: every command's --help has an example (and the list below is every command, so a
 * new one without help fails here). Completion: the bash script, run in bash, completes commands,
 * subcommands, flags and the labels of a fixture workspace; zsh and fish scripts are printed.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, KILN_BIN, makeTempDir, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const COMMANDS = ["build", "test", "watch", "query", "analyze-profile", "graph", "why", "provenance", "verify", "release", "metrics", "lock", "cache", "server", "doctor", "clean", "completion"];
const SUBCOMMANDS = ["cache gc", "cache stats", "cache serve", "metrics diff", "server start", "server stop", "server status", "server run"];

describe("kiln --help", () => {
  const f = makeWorkspace({ "WORKSPACE.ts": WORKSPACE_TS });

  it("lists exactly the commands tested here, and teaches with examples", async () => {
    const run = await f.kiln(["--help"]);
    expect(run.code, show(run)).toBe(0);
    const commandsSection = run.stdout.slice(run.stdout.indexOf("Commands:"));
    const listed = commandsSection
      .slice(0, commandsSection.indexOf("\n\n"))
      .split("\n")
      .slice(1)
      .filter((line) => /^ {2}\S/.test(line))
      .map((line) => line.trim().split(/\s/)[0]!)
      .filter((name) => name !== "help");
    expect(listed).toEqual(COMMANDS);
    expect(run.stdout).toContain("Examples:");
  });

  it.each([...COMMANDS, ...SUBCOMMANDS])("kiln %s --help has an example", async (command) => {
    const run = await f.kiln([...command.split(" "), "--help"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toMatch(/Examples?:\n {2}(\S+=\S+ )?(kiln|source) /);
  });
});

describe("kiln completion", () => {
  const f = makeWorkspace({
    "WORKSPACE.ts": WORKSPACE_TS,
    "data/BUILD.ts": `import { cmd } from "kiln";\nexport const raw = cmd({ outs: ["r"], cmd: "true" });\nexport const clean = cmd({ outs: ["c"], cmd: "true" });\n`,
    "models/BUILD.ts": `import { cmd } from "kiln";\nexport const classifier = cmd({ outs: ["m"], cmd: "true" });\n`,
  });
  // The script runs `kiln`: put the built one on PATH.
  const bin = join(makeTempDir("kiln-e2e-bin-"), "bin");
  mkdirSync(bin);
  symlinkSync(KILN_BIN, join(bin, "kiln"));

  /** What bash completes for `line` (the cursor at its end), with the script loaded. */
  async function complete(line: string): Promise<string[]> {
    const script = await f.kiln(["completion", "bash"]);
    expect(script.code, show(script)).toBe(0);
    const file = join(f.ws, "..", "kiln.bash");
    writeFileSync(file, script.stdout);
    const run = spawnSync("bash", ["-c", `source ${JSON.stringify(file)}; COMP_LINE="$1"; COMP_POINT=\${#COMP_LINE}; _kiln; printf '%s\\n' "\${COMPREPLY[@]}"`, "bash", line], {
      cwd: f.ws,
      env: { PATH: `${bin}:${process.env.PATH}`, HOME: f.ws, NO_COLOR: "1" },
      encoding: "utf8",
    });
    expect(run.status, run.stderr).toBe(0);
    return run.stdout.split("\n").filter(Boolean).sort();
  }

  it("bash completes the workspace's labels", async () => {
    expect(await complete("kiln build //")).toEqual(["//data:clean", "//data:raw", "//models:classifier"]);
    // bash splits words at ":": what it inserts is the part after the last one.
    expect(await complete("kiln build //data:")).toEqual(["clean", "raw"]);
    expect(await complete("kiln graph //models:cl")).toEqual(["classifier"]);
  });

  it("bash completes commands, subcommands and flags", async () => {
    expect(await complete("kiln gr")).toEqual(["graph"]);
    expect(await complete("kiln cache ")).toEqual(expect.arrayContaining(["gc", "serve", "stats"]));
    expect(await complete("kiln cache gc --ma")).toEqual(["--max-size"]);
    expect(await complete("kiln build --keep")).toEqual(["--keep-going"]);
    expect(await complete("kiln build -k //models:classifier --pro")).toEqual(["--profile", "--provenance"]);
  });

  it("kiln __complete labels prints the labels; zsh and fish scripts are printed; another shell is exit 2", async () => {
    const labels = await f.kiln(["__complete", "labels"]);
    expect(labels.stdout).toBe("//data:clean\n//data:raw\n//models:classifier\n");
    const zsh = await f.kiln(["completion", "zsh"]);
    expect(zsh.stdout).toContain("#compdef kiln");
    expect(zsh.stdout).toContain("'graph:the build graph");
    expect(zsh.stdout).toContain("kiln __complete labels");
    const fish = await f.kiln(["completion", "fish"]);
    expect(fish.stdout).toContain("complete -c kiln -n __fish_use_subcommand -a 'build test watch");
    expect(fish.stdout).toContain("complete -c kiln -n '__fish_seen_subcommand_from build' -l keep-going");
    const bad = await f.kiln(["completion", "tcsh"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('kiln completion takes one of bash, zsh, fish, not "tcsh"');
  });
});
