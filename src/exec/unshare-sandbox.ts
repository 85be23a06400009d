/**
 * The namespace sandbox without bubblewrap: util-linux's `unshare`, `mount` and `setpriv`, which
 * every Debian, Ubuntu and Fedora base image has. As root: new mount, PID and network namespaces;
 * otherwise the same inside a user namespace that maps the user to root (`--map-root-user`).
 *
 * One namespace per helper shell, reused for every job the helper runs: making one costs ~8 ms
 * of namespaces and ~4 ms a `mount` exec here (bench/RESULTS.md), far more than a command, so
 * the view is built once, when the helper starts, and a job costs two renames. The view (a
 * skeleton directory, bound read-only as the root) holds
 *   - the system's programs and libraries and the few /etc files commands need, read-only,
 *   - a private /proc (the helper's PID namespace), a few /dev nodes, a private tmpfs /tmp,
 *   - the install roots of declared tools, read-only,
 *   - at the sandbox base's own path, the helper's *slot*: a host directory holding nothing but
 *     the sandbox of the job it runs. kiln renames the job's sandbox into the slot before the job
 *     and back after it, so inside, the sandbox is at its real path ($OUT and messages are the
 *     same as in the other modes) and no other sandbox, parked or running, is in view;
 * and nothing else of the host: not the workspace, not HOME, no network. The helper chroots into
 * the view and drops every capability (bounding set, no_new_privs) before it reads its first job,
 * so a command cannot mount, unmount, chroot out or remount anything writable. After each job
 * the helper, PID 1 of its namespace, kills every process the job left (`kill -9 -1`), so nothing
 * of one job outlives it to watch the slot for the next.
 *
 * What bwrap gives and this does not: the sandbox's own files are not read-only inside (the slot
 * is bound once, writable). A command can change its inputs; a dependency's output or a large
 * source (hard links) changed that way fails the step after it ran, as in the directory sandbox
 * (sandbox.ts `changedSharedInputs`), and the damaged copy is rebuilt.
 */
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { findOnPath } from "./namespace-sandbox.js";
import { writeFileAtomic } from "../state/atomic-file.js";

/** The programs a namespace helper needs, found on the host's PATH, and how it enters namespaces. */
export interface UnshareTools {
  unshare: string;
  setpriv: string;
  mount: string;
  /** Not root: a user namespace mapping the user to root comes first. */
  userNamespace: boolean;
}

/** Top-level system directories: bound read-only, or made the symlinks they are. */
const SYSTEM_DIRECTORIES = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** What of /etc commands need (as namespace-sandbox.ts gives bwrap). */
const ETC_FILES = ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/mime.types"];
const ETC_DIRECTORIES = ["/etc/ld.so.conf.d", "/etc/alternatives"];
const DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"];
const DEVICE_LINKS: [string, string][] = [
  ["/dev/fd", "/proc/self/fd"],
  ["/dev/stdin", "/proc/self/fd/0"],
  ["/dev/stdout", "/proc/self/fd/1"],
  ["/dev/stderr", "/proc/self/fd/2"],
];

/**
 * The helper's loop inside the view: command-spawner.ts's, plus, after each job, killing every
 * process it left (the helper is PID 1 of its namespace) and scrubbing the private /tmp the
 * helper's jobs share. `/tmp` entries are looked at with the shell's own globbing (no exec); only
 * when one is there does `find` run. When the sandbox base (or a tool root) lives under /tmp, its
 * mount point's parents are in that tmpfs too: `find -xdev` does not descend into the mounts,
 * and the mount points themselves cannot be removed, so only what jobs wrote goes.
 */
export function namespaceHelperScript(run: string, stdout: string, stderr: string, mountsUnderTmp: boolean): string {
  const scrub = mountsUnderTmp
    ? `find /tmp -xdev -mindepth 1 -depth -delete 2>/dev/null`
    : `for f in /tmp/* /tmp/.[!.]* /tmp/..?*; do if [ -e "$f" ] || [ -L "$f" ]; then find /tmp -xdev -mindepth 1 -depth -delete 2>/dev/null; break; fi; done`;
  return `while IFS= read -r id && IFS= read -r dir; do
if cd "$dir"; then unset OLDPWD; /bin/sh ./${run} </dev/null >${stdout} 2>${stderr}; s=$?; cd /; kill -9 -1 2>/dev/null; ${scrub}; echo "$id $s"; else echo "$id 127"; fi
cd /
done`;
}

/**
 * Mounts the view (one `mount -a` over the helper's own fstab, outside the view), then becomes
 * the helper: chrooted into the view, every capability dropped. $1 mount, $2 fstab, $3 unshare,
 * $4 the view, $5 setpriv, $6 the helper's loop (programs by path: the environment is empty).
 */
const SETUP_SCRIPT = `"$1" -n -a -T "$2" || exit 125
exec "$3" --root="$4" --wd=/ "$5" --bounding-set=-all --inh-caps=-all --ambient-caps=-all --no-new-privs -- /bin/sh -c "$6"`;

/** What a helper's view is made of. */
export interface NamespaceView {
  /** The skeleton directory (see prepareSkeleton), the view's root. */
  skeleton: string;
  /** The host directory shown at `base` inside: the helper's slot. */
  slot: string;
  /** The sandbox base: the directory sandboxes live in. */
  base: string;
  /** Install roots of declared tools, read-only. */
  tools: readonly string[];
}

/**
 * Makes the view's mount points under `skeleton` (idempotent, cheap after the first build):
 * the system directories (merged-/usr symlinks stay symlinks), empty files for /etc entries and
 * /dev nodes, /proc, /tmp, and the path down to `base` and to each tool root. Paths under /tmp
 * are made by `mount` itself (`x-mount.mkdir`) in the private /tmp.
 */
export function prepareSkeleton(skeleton: string, base: string, tools: readonly string[]): void {
  const inside = (path: string) => join(skeleton, path);
  for (const dir of SYSTEM_DIRECTORIES) {
    const stat = lstatSync(dir, { throwIfNoEntry: false });
    if (!stat) continue;
    if (existsSync(inside(dir)) || lstatSync(inside(dir), { throwIfNoEntry: false })) continue;
    mkdirSync(dirname(inside(dir)), { recursive: true });
    if (stat.isSymbolicLink()) unlessItExists(() => symlinkSync(readlinkSync(dir), inside(dir)));
    else if (stat.isDirectory()) unlessItExists(() => mkdirSync(inside(dir)));
  }
  for (const dir of ["/etc", "/dev", "/proc", "/tmp", ...ETC_DIRECTORIES.filter(existsSync)]) mkdirSync(inside(dir), { recursive: true });
  for (const file of [...ETC_FILES.filter(existsSync), ...DEVICES.filter(existsSync)]) {
    if (!existsSync(inside(file))) writeFileSync(inside(file), "");
  }
  for (const [link, target] of DEVICE_LINKS) {
    if (!lstatSync(inside(link), { throwIfNoEntry: false })) unlessItExists(() => symlinkSync(target, inside(link)));
  }
  for (const path of [base, ...tools]) if (!underTmp(path)) mkdirSync(inside(path), { recursive: true });
}

const underTmp = (path: string) => path === "/tmp" || path.startsWith("/tmp/");

/**
 * Two builds of one workspace make the same skeleton at once (robustness.test.ts's concurrent
 * builds): whoever comes second finds the entry made, which is what it wanted.
 */
function unlessItExists(make: () => void): void {
  try {
    make();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}

/** The fstab a helper's `mount -a` reads: order matters (the root first, /tmp before what lives in it). */
export function viewFstab(view: NamespaceView): string {
  const at = (path: string) => join(view.skeleton, path);
  const field = (text: string) => text.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  const lines: string[] = [];
  const add = (source: string, target: string, type: string, options: string) => lines.push(`${field(source)} ${field(target)} ${type} ${options} 0 0`);
  add(view.skeleton, view.skeleton, "none", "bind,ro");
  for (const dir of SYSTEM_DIRECTORIES) {
    const stat = lstatSync(dir, { throwIfNoEntry: false });
    if (stat?.isDirectory() && !stat.isSymbolicLink()) add(dir, at(dir), "none", "rbind,ro");
  }
  for (const entry of [...ETC_FILES, ...ETC_DIRECTORIES]) if (existsSync(entry)) add(entry, at(entry), "none", "bind,ro");
  for (const device of DEVICES) if (existsSync(device)) add(device, at(device), "none", "bind");
  add("proc", at("/proc"), "proc", "nosuid,nodev,noexec");
  add("tmpfs", at("/tmp"), "tmpfs", "mode=1777,nosuid,nodev");
  for (const root of view.tools) add(root, at(root), "none", "rbind,ro,x-mount.mkdir");
  add(view.slot, at(view.base), "none", "bind,nosuid,nodev,x-mount.mkdir");
  return `${lines.join("\n")}\n`;
}

/** The argv of a helper shell in its own namespace; `fstab` is viewFstab's text, written by the caller. */
export function namespaceHelperArgv(tools: UnshareTools, network: boolean, fstab: string, skeleton: string, helperScript: string): string[] {
  const namespaces = [...(tools.userNamespace ? ["--user", "--map-root-user"] : []), "--mount", ...(network ? [] : ["--net"]), "--pid", "--fork", "--kill-child"];
  return [tools.unshare, ...namespaces, "/bin/sh", "-c", SETUP_SCRIPT, "kiln-namespace", tools.mount, fstab, tools.unshare, skeleton, tools.setpriv, helperScript];
}

/**
 * The tools on the caller's PATH, if they can make a namespace here (tried once with a view like
 * a real helper's, under `scratchDir`); else why not. Root tries plain namespaces; anyone else (or
 * root where those are refused) a user namespace.
 */
export function probeUnshare(scratchDir: string, hostPath: string | undefined): UnshareTools | { problem: string } {
  // A success is kept for the process: a watch session built again and again would otherwise
  // spend a spawnSync (25-55 ms at 100,000 targets) on it every rebuild. A failure is probed again.
  const memoKey = `${scratchDir}\0${hostPath ?? ""}`;
  const known = workingTools.get(memoKey);
  if (known) return known;
  const probed = probeUnshareOnce(scratchDir, hostPath);
  if (!("problem" in probed)) workingTools.set(memoKey, probed);
  return probed;
}

const workingTools = new Map<string, UnshareTools>();

function probeUnshareOnce(scratchDir: string, hostPath: string | undefined): UnshareTools | { problem: string } {
  const unshare = findOnPath("unshare", hostPath);
  // setpriv runs inside the view: by its real path, which is under the system directories there.
  const setprivFound = findOnPath("setpriv", hostPath);
  const setpriv = setprivFound && realpathSync(setprivFound);
  const mount = findOnPath("mount", hostPath);
  const missing = [!unshare && "unshare", !setpriv && "setpriv", !mount && "mount"].filter(Boolean);
  if (missing.length > 0 || !unshare || !setpriv || !mount) return { problem: `${missing.join(", ")} not found on PATH (util-linux)` };
  const probeDir = join(scratchDir, "ns-probe");
  const base = join(probeDir, "base");
  const slot = join(probeDir, "slot");
  const skeleton = join(probeDir, "view");
  mkdirSync(base, { recursive: true });
  mkdirSync(slot, { recursive: true });
  prepareSkeleton(skeleton, base, []);
  const fstab = join(probeDir, "fstab");
  // Through a temp name: two kilns starting at once probe with this one file, and a half-written
  // fstab would make the other's probe fail (and its build pick another sandbox).
  writeFileAtomic(fstab, viewFstab({ skeleton, slot, base, tools: [] }));
  // What a job relies on: the view is there, the root is read-only, capabilities are gone.
  const check = `test -d ${JSON.stringify(base)} && test -x /bin/sh && ! true 2>/dev/null >/kiln-probe && ! ${mount} -n -t tmpfs none /tmp 2>/dev/null`;
  const problems: string[] = [];
  const tries = process.getuid?.() === 0 ? [false, true] : [true];
  for (const userNamespace of tries) {
    const tools = { unshare, setpriv, mount, userNamespace };
    const argv = namespaceHelperArgv(tools, false, fstab, skeleton, check);
    const probe = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 10_000, env: {} });
    if (probe.status === 0) return tools;
    const said = probe.error?.message ?? (probe.stderr.trim().split("\n").at(-1) || `exited with status ${probe.status}`);
    problems.push(`${userNamespace ? "unshare --user --map-root-user" : "unshare"}: ${said}`);
  }
  return { problem: problems.join("; ") };
}
