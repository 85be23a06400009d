/**
 * Outputs are regular files or directories of regular files (issue 10, item 3). Before, `ln -s
 * /etc/passwd $OUT/o.txt` was cached and materialized (and the store's chmod followed the link to
 * the host's file), and a step that replaced $OUT by a link to a directory had kiln, emptying the
 * sandbox as root, delete everything in that directory. A link, FIFO or socket in $OUT now fails
 * the step naming its path; nothing of it is cached or materialized; and nothing kiln does after
 * a step follows a link the step made. Every "victim" here is a temp dir of the test's own.
 */
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, listBlobs, makeTempDir, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const bwrapWorks = spawnSync("bwrap", ["--ro-bind", "/", "/", "true"]).status === 0;
const modes = [["dir", true], ["bwrap", bwrapWorks]] as const;

/** A directory of the test's own that no build may change: a file, and a directory with a file. */
function makeVictim(): { dir: string; unchanged(): void } {
  const dir = makeTempDir("kiln-victim-");
  writeFileSync(join(dir, "precious.txt"), "precious\n");
  mkdirSync(join(dir, "sub"));
  writeFileSync(join(dir, "sub", "deep.txt"), "deep\n");
  return {
    dir,
    unchanged() {
      expect(readdirSync(dir).sort()).toEqual(["precious.txt", "sub"]);
      expect(readFileSync(join(dir, "precious.txt"), "utf8")).toBe("precious\n");
      expect(statSync(join(dir, "precious.txt")).mode & 0o777).toBe(0o644);
      expect(readFileSync(join(dir, "sub", "deep.txt"), "utf8")).toBe("deep\n");
    },
  };
}

function blobsHolding(cache: string, content: string): string[] {
  if (!existsSync(join(cache, "cas"))) return [];
  return listBlobs(cache).filter((blob) => readFileSync(blob, "utf8") === content);
}

describe.each(modes)("outputs that are not regular files (--sandbox %s)", (mode, works) => {
  it.runIf(works)("a symbolic link, FIFO or socket in $OUT fails the step naming the path; nothing is cached or materialized", async () => {
    const victim = makeVictim();
    const precious = join(victim.dir, "precious.txt");
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/BUILD.ts": [
        `import { cmd, step } from "kiln";`,
        `export const link = cmd({ outs: ["o.txt"], cmd: ${JSON.stringify(`ln -s ${precious} $OUT/o.txt`)} });`,
        `export const dirlink = cmd({ outs: ["d/precious.txt"], cmd: ${JSON.stringify(`ln -s ${victim.dir} $OUT/d`)} });`,
        `export const fifo = cmd({ outs: ["o.txt"], cmd: "echo x > $OUT/o.txt; mkfifo $OUT/pipe" });`,
        `export const sock = cmd({ outs: ["o.txt"], cmd: ${JSON.stringify(`echo x > $OUT/o.txt; python3 -c "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" $OUT/s.sock`)} });`,
        `export const steplink = step({ outs: ["o.txt"], run: "./make.ts#make" });`,
        ``,
      ].join("\n"),
      "p/make.ts": [
        `import { symlinkSync } from "node:fs";`,
        `export function make(ctx: any): void { symlinkSync(${JSON.stringify(precious)}, ctx.out("o.txt")); }`,
        ``,
      ].join("\n"),
    });
    const run = await f.build(["-k", "--sandbox", mode]);
    expect(run.code, show(run)).toBe(1);
    expect(run.failed).toEqual(["//p:dirlink", "//p:fifo", "//p:link", "//p:sock", "//p:steplink"]);
    expect(run.stderr).toContain(`kiln-out/p/link/o.txt is a symbolic link (to ${precious}); outputs must be regular files`);
    expect(run.stderr).toContain(`kiln-out/p/dirlink/d is a symbolic link (to ${victim.dir}); outputs must be regular files`);
    expect(run.stderr).toContain("kiln-out/p/fifo/pipe is a FIFO (named pipe); outputs must be regular files");
    expect(run.stderr).toContain("kiln-out/p/sock/s.sock is a socket; outputs must be regular files");
    expect(run.stderr).toContain(`kiln-out/p/steplink/o.txt is a symbolic link (to ${precious}); outputs must be regular files`);
    for (const name of ["link", "dirlink", "fifo", "sock", "steplink"]) expect(existsSync(join(f.ws, "kiln-out/p", name))).toBe(false);
    expect(blobsHolding(f.cache, "precious\n")).toEqual([]);
    victim.unchanged();

    // Still failing on the next build: no result was cached.
    const again = await f.build(["-k", "--sandbox", mode]);
    expect(again.failed, show(again)).toHaveLength(5);
    victim.unchanged();
  });
});

describe("a step that turns the sandbox against kiln (--sandbox dir, and step functions, which bwrap does not wrap)", () => {
  it("$OUT replaced by a link to a directory: the step fails and nothing in that directory is touched", async () => {
    const victim = makeVictim();
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/in.txt": "1\n",
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const out = cmd({ srcs: ["in.txt"], outs: ["precious.txt"], cmd: ${JSON.stringify(`rmdir $OUT && ln -s ${victim.dir} $OUT`)} });`,
        `export const parent = cmd({ srcs: ["in.txt"], outs: ["precious.txt"], cmd: ${JSON.stringify(`rm -r kiln-out/p && ln -s ${victim.dir} kiln-out/p && mkdir -p ${victim.dir}/parent`)} });`,
        ``,
      ].join("\n"),
    });
    const run = await f.build(["-k", "--sandbox", "dir"]);
    expect(run.code, show(run)).toBe(1);
    expect(run.stderr).toContain(`kiln-out/p/out is a symbolic link (to ${victim.dir}); outputs must be regular files`);
    expect(run.stderr).toContain(`kiln-out/p/parent is not a directory: kiln-out/p is a symbolic link (to ${victim.dir})`);
    expect(blobsHolding(f.cache, "precious\n")).toEqual([]);
    // The parent step made victim/parent itself (a command may write anywhere in this mode):
    // that is the one change, and kiln made no other.
    expect(existsSync(join(victim.dir, "parent"))).toBe(true);
    spawnSync("rmdir", [join(victim.dir, "parent")]);
    victim.unchanged();

    // The next build reuses the sandboxes, rebuilt whole.
    f.write({
      "p/in.txt": "2\n",
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const out = cmd({ srcs: ["in.txt"], outs: ["precious.txt"], cmd: "cp p/in.txt $OUT/precious.txt" });`,
        `export const parent = cmd({ srcs: ["in.txt"], outs: ["precious.txt"], cmd: "cp p/in.txt $OUT/precious.txt" });`,
        ``,
      ].join("\n"),
    });
    const fixed = await f.build(["--sandbox", "dir"]);
    expect(fixed.code, show(fixed)).toBe(0);
    expect(f.read("kiln-out/p/out/precious.txt")).toBe("2\n");
    expect(f.read("kiln-out/p/parent/precious.txt")).toBe("2\n");
    victim.unchanged();
  });

  it("links planted at kiln's own files in the sandbox are never written through", async () => {
    const victim = makeVictim();
    const precious = join(victim.dir, "precious.txt");
    const plant = [".kiln-log", ".kiln-run", ".kiln-srcs", ".kiln-cmd", ".kiln-sandbox"]
      .map((name) => `rm -f ${name}; ln -s ${precious} ${name}`)
      .join("; ");
    const f = makeWorkspace({
      "WORKSPACE.ts": WORKSPACE_TS,
      "p/in.txt": "1\n",
      "p/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const t = cmd({ srcs: ["in.txt"], outs: ["o.txt"], cmd: ${JSON.stringify(`echo a log line; ${plant}; rm .kiln-stdout; mkfifo .kiln-stdout; cp p/in.txt $OUT/o.txt`)} });`,
        ``,
      ].join("\n"),
    });
    for (const input of ["1\n", "2\n", "3\n"]) {
      f.write({ "p/in.txt": input });
      const run = await f.build(["--sandbox", "dir"]);
      expect(run.code, show(run)).toBe(0);
      expect(f.read("kiln-out/p/t/o.txt")).toBe(input);
      victim.unchanged();
    }
    expect(lstatSync(precious).isFile()).toBe(true);
  });
});
