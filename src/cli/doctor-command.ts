/**
 * `kiln doctor`: what this machine gives kiln, each with its fix. Mostly the sandbox: which
 * namespace sandbox `--sandbox=auto` will use and, for each kind, why it can or cannot be made
 * here (probed exactly as a build probes it, in a temp dir of its own); then the cache dir, the
 * remote cache settings and the inotify limit watch mode meets. Prints; changes nothing.
 */
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { chooseIsolation } from "../exec/isolation.js";
import { probeBwrap } from "../exec/namespace-sandbox.js";
import { probeUnshare } from "../exec/unshare-sandbox.js";

export interface DoctorOptions {
  cacheDir?: string;
}

export async function runDoctor(options: DoctorOptions): Promise<number> {
  const scratch = mkdtempSync(`${tmpdir()}/kiln-doctor-`);
  const lines: string[] = [];
  try {
    const unshare = probeUnshare(scratch, process.env.PATH);
    const bwrap = probeBwrap(scratch, process.env.PATH);
    const chosen = chooseIsolation("auto", scratch, process.env.PATH, () => {});
    const root = process.getuid?.() === 0;
    lines.push(`sandbox: --sandbox=auto uses ${describeMode(chosen.mode)}`);
    if ("problem" in unshare) {
      lines.push(`  unshare: unavailable: ${unshare.problem}`);
      lines.push(
        `    fix: install util-linux (unshare, mount, setpriv); ${root ? "" : "as a user, the kernel must allow user namespaces (sysctl user.max_user_namespaces > 0, and kernel.unprivileged_userns_clone=1 or apparmor_restrict_unprivileged_userns=0 where those exist); "}` +
          "in a container, allow unshare(2) and mount(2) (e.g. docker run --security-opt seccomp=unconfined --cap-add SYS_ADMIN, or run kiln as root in it)",
      );
    } else lines.push(`  unshare: works (${unshare.userNamespace ? "in a user namespace: --user --map-root-user --mount --net --pid" : "as root: --mount --net --pid"}; ${unshare.unshare})`);
    if ("problem" in bwrap) lines.push(`  bwrap: unavailable: ${bwrap.problem}`, "    fix: apt-get install bubblewrap (dnf install bubblewrap); user namespaces as for unshare");
    else lines.push(`  bwrap: works (${bwrap.bwrap})`);
    if (chosen.mode === "dir") {
      lines.push(
        "  NOT HERMETIC: cmd steps can read any file by its absolute path and reach the network; fix one of the above,",
        "  or build with --sandbox=strict (or WORKSPACE.ts `sandbox: \"strict\"`) to refuse such builds",
      );
    }
    lines.push("  (step functions run in runner processes, not in a namespace: see README \"Sandboxes\")");

    const cacheDir = options.cacheDir ?? process.env.KILN_CACHE_DIR ?? (await import("../cache/local-store.js")).defaultCacheDir(process.env);
    lines.push(`cache: ${cacheDir} ${writable(cacheDir) ? "(writable)" : "(not writable yet or missing: kiln makes it; fix permissions, or --cache-dir DIR / KILN_CACHE_DIR)"}`);
    const remote = process.env.KILN_REMOTE_CACHE;
    lines.push(remote ? `remote cache: ${remote.replace(/\/\/[^@/]*@/, "//")}${process.env.KILN_REMOTE_UPLOAD === "1" ? ", uploads on" : ", read only"}` : "remote cache: none (--remote-cache URL or KILN_REMOTE_CACHE)");
    const watches = readNumber("/proc/sys/fs/inotify/max_user_watches");
    if (watches !== undefined) {
      lines.push(`watch: inotify allows ${watches} watches${watches < 65536 ? " (low: kiln watch needs one a file; sysctl fs.inotify.max_user_watches=524288)" : ""}`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

function describeMode(mode: "bwrap" | "unshare" | "dir"): string {
  switch (mode) {
    case "unshare":
      return "the namespace sandbox made with unshare (hermetic: only declared inputs, read-only system, private /tmp, no network)";
    case "bwrap":
      return "the namespace sandbox made with bubblewrap (hermetic, and inputs read-only)";
    case "dir":
      return "the directory sandbox alone (NOT hermetic)";
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function readNumber(file: string): number | undefined {
  try {
    return Number(readFileSync(file, "utf8").trim());
  } catch {
    return undefined;
  }
}
