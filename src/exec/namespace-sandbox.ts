/**
 * The namespace sandbox for `cmd` steps: bubblewrap (`bwrap`) starts the command in new mount,
 * PID, IPC, UTS and network namespaces where the file system holds only
 *   - the system's programs and libraries, read-only (/usr, /bin, /lib*, /sbin),
 *   - the few files of /etc a shell and its programs need (users, name service switch, the
 *     dynamic linker's cache, Debian's alternatives, the time zone), read-only,
 *   - the install roots of the command's declared tools, read-only,
 *   - the sandbox directory at its own path, read-only, with its $OUT and its HOME/TMPDIR writable,
 *   - a private /tmp, /proc and a minimal /dev;
 * nothing else of the workspace, of HOME or of the host, and no network unless the target
 * declares `network: true`. Inputs are read-only inside, and the command has no capabilities
 * (even when kiln runs as root) to remount them writable, so it cannot change a dependency's
 * output (a hard link to the cache's blob) or a large source it shares.
 *
 * The argument list is built here, purely; starting it is the spawner's job (command-spawner.ts).
 * Measured on the 2-core machine: ~6 ms per start (bench/RESULTS.md has the per-step cost).
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, lstatSync, readlinkSync, realpathSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";

/**
 * How `cmd` steps are isolated. `auto`: a namespace sandbox where one can be made (unshare or
 * bwrap), else the directory sandbox with a warning; `strict`: a namespace sandbox or no build;
 * `bwrap`, `unshare`: that one or no build; `dir`: the directory sandbox alone (isolation.ts).
 */
export type SandboxChoice = "auto" | "strict" | "bwrap" | "unshare" | "dir";
export const SANDBOX_CHOICES: readonly SandboxChoice[] = ["auto", "strict", "bwrap", "unshare", "dir"];
/** The isolation a result was built with, as recorded beside it. */
export type SandboxMode = "bwrap" | "unshare" | "dir";

/** Top-level system directories, bound read-only (or recreated as the symlinks they are). */
const SYSTEM_DIRECTORIES = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/** What of /etc commands need: users and groups, name service, the linker's cache, alternatives, time. */
const ETC_ENTRIES = [
  "/etc/passwd",
  "/etc/group",
  "/etc/nsswitch.conf",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/alternatives",
  "/etc/localtime",
  "/etc/mime.types",
];

/** The host's system directories and /etc files as bwrap arguments (read once per build). */
export function systemBindings(): string[] {
  const args: string[] = [];
  for (const dir of SYSTEM_DIRECTORIES) {
    let stat;
    try {
      stat = lstatSync(dir);
    } catch {
      continue;
    }
    // Merged /usr (Debian 12): /bin -> usr/bin. A symlink stays a symlink inside.
    if (stat.isSymbolicLink()) args.push("--symlink", readlinkSync(dir), dir);
    else if (stat.isDirectory()) args.push("--ro-bind", dir, dir);
  }
  for (const entry of ETC_ENTRIES) if (existsSync(entry)) args.push("--ro-bind", entry, entry);
  return args;
}

/**
 * The directories a declared tool needs beyond the system's: the install root of the path it
 * was found at and of the file that path resolves to (two levels up: `<root>/bin/<tool>`). A
 * pyenv shim at ~/.pyenv/shims/python3 needs ~/.pyenv; a virtualenv's python needs the venv
 * (its pyvenv.cfg) and the base interpreter's root. Roots under the system directories are
 * already there.
 */
export function toolRoots(toolPaths: readonly string[]): string[] {
  const roots = new Set<string>();
  for (const path of toolPaths) {
    let real = path;
    try {
      real = realpathSync(path);
    } catch {
      // a dangling tool fails when run, with its own message
    }
    for (const candidate of [path, real]) {
      let root = dirname(dirname(candidate));
      // Never /tmp itself: bound over the sandbox's private /tmp, it showed the host's /tmp, and
      // the namespace helper's scrub of /tmp (find -xdev) then crossed into the sandbox's own
      // bind on the same file system and deleted the step's files. A tool at /tmp/<dir>/<tool>
      // (tools/path-without.sh's farm of links, a test's bin directory) gets its directory.
      if (root === "/tmp") root = dirname(candidate);
      if (root === "/" || root === "/tmp" || SYSTEM_DIRECTORIES.some((dir) => root === dir || root.startsWith(`${dir}/`))) continue;
      roots.add(root);
    }
  }
  // A root inside another is bound with it.
  const sorted = [...roots].sort();
  return sorted.filter((root) => !sorted.some((other) => other !== root && root.startsWith(`${other}/`)));
}

export interface NamespaceLayout {
  /** From systemBindings(). */
  system: readonly string[];
  /** The sandbox directory (bound read-only at its own path, the working directory). */
  sandboxDir: string;
  /** Writable inside: the target's $OUT and the sandbox's HOME/TMPDIR. */
  writable: readonly string[];
  /** Install roots of declared tools (see toolRoots). */
  tools: readonly string[];
  network: boolean;
}

/** bwrap's arguments for a command laid out as `layout`; the program and its arguments follow. */
export function bwrapArguments(layout: NamespaceLayout): string[] {
  // --cap-drop ALL: run as root, bwrap otherwise leaves the command every capability, and
  // `mount -o remount,rw` makes the read-only binds below writable again (seen here).
  const args = ["--die-with-parent", "--unshare-all", "--cap-drop", "ALL"];
  if (layout.network) args.push("--share-net");
  args.push(...layout.system);
  // /tmp first: a tool or the sandbox may live below it, and must be bound over it, not hidden.
  args.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  for (const root of layout.tools) args.push("--ro-bind", root, root);
  args.push("--ro-bind", layout.sandboxDir, layout.sandboxDir);
  for (const dir of layout.writable) args.push("--bind", dir, dir);
  // The root is a tmpfs bwrap made to hold the mount points: read-only, so a write outside
  // $OUT and the temp dir fails instead of vanishing.
  args.push("--remount-ro", "/", "--chdir", layout.sandboxDir);
  return args;
}

/** The first executable `name` in an absolute directory of `hostPath`. */
export function findOnPath(name: string, hostPath: string | undefined): string | undefined {
  return (hostPath ?? "")
    .split(delimiter)
    .filter((dir) => dir.startsWith("/"))
    .map((dir) => join(dir, name))
    .find((candidate) => {
      try {
        accessSync(candidate, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/**
 * bwrap's path on the caller's PATH, if it can start a command here (tried once with the
 * arguments a real step gets); else why not (not installed, user namespaces refused...).
 */
export function probeBwrap(scratchDir: string, hostPath: string | undefined): { bwrap: string } | { problem: string } {
  const bwrap = findOnPath("bwrap", hostPath);
  if (!bwrap) return { problem: "bwrap is not installed or not on PATH (Debian: apt-get install bubblewrap)" };
  const layout = { system: systemBindings(), sandboxDir: scratchDir, writable: [], tools: [], network: false };
  const probe = spawnSync(bwrap, [...bwrapArguments(layout), "/bin/sh", "-c", "exit 0"], { encoding: "utf8", timeout: 10_000, env: {} });
  if (probe.status === 0) return { bwrap };
  return { problem: probe.error?.message ?? (probe.stderr.trim().split("\n").at(-1) || `bwrap exited with status ${probe.status}`) };
}
