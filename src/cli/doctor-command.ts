/**
 * `kiln doctor`: what this machine gives kiln, each with its fix. Mostly the sandbox: which
 * namespace sandbox `--sandbox=auto` will use and, for each kind, why it can or cannot be made
 * here (probed exactly as a build probes it, in a temp dir of its own); then the cache (where, how
 * big against its cap, writable), whether the remote cache answers, and the inotify limits watch
 * mode meets; each with its fix. Prints; changes nothing.
 */
import { accessSync, constants, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { chooseIsolation } from "../exec/isolation.js";
import { probeBwrap } from "../exec/namespace-sandbox.js";
import { probeUnshare } from "../exec/unshare-sandbox.js";

export interface DoctorOptions {
  cacheDir?: string;
  remoteCache?: string;
}

/** How long the remote gets to answer one HEAD. */
const REMOTE_TIMEOUT_MS = 3000;
/** Below this, a watch of a real repository runs out of inotify watches. */
const LOW_WATCHES = 65_536;

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

    lines.push(...(await cacheLines(options)));
    lines.push(...(await remoteLines(options.remoteCache ?? process.env.KILN_REMOTE_CACHE, process.env)));
    lines.push(...watchLines());
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

/** The local cache: where (and from which setting), how big against its cap, and whether kiln can write it. */
async function cacheLines(options: DoctorOptions): Promise<string[]> {
  const { defaultCacheDir } = await import("../cache/local-store.js");
  const from = options.cacheDir ? "--cache-dir" : process.env.KILN_CACHE_DIR ? "KILN_CACHE_DIR" : process.env.XDG_CACHE_HOME ? "$XDG_CACHE_HOME/kiln" : "the default, ~/.cache/kiln";
  const dir = options.cacheDir ?? defaultCacheDir(process.env);
  const lines = [`cache: ${dir} (from ${from})`];
  if (!existsSync(dir)) {
    lines.push("  empty: no build has used it yet (kiln makes it on the first build)");
    return lines;
  }
  if (!writable(dir)) lines.push("  NOT WRITABLE: builds fail with exit 2", `    fix: chmod u+w ${dir} (or chown it to you), or point kiln elsewhere with --cache-dir DIR or KILN_CACHE_DIR=DIR`);
  const { blobs, bytes, linked } = measureBlobs(dir);
  const { formatBytes } = await import("../byte-size.js");
  const { cacheCapFromEnv } = await import("./build-command.js");
  const { DEFAULT_CACHE_MAX_BYTES } = await import("../cache/gc/auto-trim.js");
  const envCap = cacheCapFromEnv(process.env);
  const cap = envCap !== undefined ? envCap : DEFAULT_CACHE_MAX_BYTES;
  const capText = cap === null ? "no cap (KILN_CACHE_MAX_SIZE=off)" : `cap ${formatBytes(cap)} (${envCap !== undefined ? "KILN_CACHE_MAX_SIZE" : "the default; WORKSPACE.ts cacheMaxSize may set another"})`;
  lines.push(`  size: ${formatBytes(bytes)} in ${blobs} blobs (${formatBytes(linked)} of it also linked into kiln-out or sandboxes); ${capText}`);
  if (cap !== null && bytes - linked > cap) lines.push(`    fix: over the cap; builds trim it in the background, or now: kiln cache gc (kiln cache stats for the detail)`);
  else lines.push("  ok (kiln cache stats: results and hit rate; kiln cache gc --max-size SIZE to trim)");
  return lines;
}

/** Blobs in the store: count, bytes, and bytes also hard-linked elsewhere. One stat a blob. */
function measureBlobs(dir: string): { blobs: number; bytes: number; linked: number } {
  let blobs = 0;
  let bytes = 0;
  let linked = 0;
  const cas = join(dir, "cas");
  for (const shard of listOrEmpty(cas)) {
    for (const name of listOrEmpty(join(cas, shard))) {
      try {
        const stats = lstatSync(join(cas, shard, name));
        if (!stats.isFile()) continue;
        blobs++;
        bytes += stats.size;
        if (stats.nlink > 1) linked += stats.size;
      } catch {
        // removed meanwhile
      }
    }
  }
  return { blobs, bytes, linked };
}

function listOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Whether the remote cache answers: one HEAD of an action key no one has (a 404 is a healthy
 * miss), with the token builds would send. Never prints the URL's password.
 */
export async function remoteLines(url: string | undefined, env: NodeJS.ProcessEnv): Promise<string[]> {
  if (!url) return ["remote cache: none", "  (to share results: --remote-cache URL or KILN_REMOTE_CACHE=URL; kiln cache serve runs one)"];
  const shown = url.replace(/\/\/[^@/]*@/, "//");
  const mode = env.KILN_REMOTE_UPLOAD === "1" ? "uploads on" : "read only (KILN_REMOTE_UPLOAD=1 to upload, as CI does)";
  const lines = [`remote cache: ${shown}, ${mode}`];
  let probe: URL;
  try {
    probe = new URL(`${url.replace(/\/+$/, "")}/ac/${"0".repeat(64)}`);
    if (!["http:", "https:", "grpc:", "grpcs:"].includes(probe.protocol)) throw new Error("not a cache URL");
  } catch {
    lines.push("  NOT A CACHE URL: builds refuse it (exit 2)", "    fix: http(s)://host:port for Bazel's HTTP cache, grpc(s)://host:port for REAPI, e.g. KILN_REMOTE_CACHE=http://cache.internal:8080");
    return lines;
  }
  if (probe.protocol === "grpc:" || probe.protocol === "grpcs:") return [...lines, ...(await tcpLines(probe))];
  const headers: Record<string, string> = {};
  if (env.KILN_REMOTE_CACHE_TOKEN) headers.authorization = `Bearer ${env.KILN_REMOTE_CACHE_TOKEN}`;
  const started = performance.now();
  try {
    const response = await fetch(probe, { method: "HEAD", headers, signal: AbortSignal.timeout(REMOTE_TIMEOUT_MS) });
    const ms = Math.round(performance.now() - started);
    if (response.status === 404 || response.ok) lines.push(`  answers: HTTP ${response.status} in ${ms} ms (ok)`);
    else if (response.status === 401 || response.status === 403) {
      lines.push(`  answers but refuses: HTTP ${response.status} in ${ms} ms`, `    fix: ${env.KILN_REMOTE_CACHE_TOKEN ? "KILN_REMOTE_CACHE_TOKEN is not one the server accepts" : "set KILN_REMOTE_CACHE_TOKEN to the server's read (or write) token"}`);
    } else lines.push(`  answers with HTTP ${response.status} in ${ms} ms: builds will warn once and go on without it`, "    fix: check the server's logs; it should answer 404 for a key it does not have");
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = (error as Error).name === "TimeoutError" ? `no answer within ${REMOTE_TIMEOUT_MS / 1000} s` : (cause?.code ?? cause?.message ?? (error as Error).message);
    lines.push(`  DOES NOT ANSWER: ${why}; builds warn once and go on without it`, `    fix: start the server (kiln cache serve --dir DIR --port ${probe.port || "8080"}), or check the host, port and network between`);
  }
  return lines;
}

/** inotify limits: kiln watch holds one watch per watched file and directory. */
function watchLines(): string[] {
  const watches = readNumber("/proc/sys/fs/inotify/max_user_watches");
  const instances = readNumber("/proc/sys/fs/inotify/max_user_instances");
  if (watches === undefined) return ["watch: no inotify here (not Linux?)", "  fix: kiln watch --poll polls instead"];
  const lines = [`watch: inotify allows ${watches} watches and ${instances ?? "?"} instances per user (kiln watch needs one watch per file and directory it watches)`];
  if (watches < LOW_WATCHES) {
    lines.push(
      `  LOW: a watch of more than ~${watches} files fails`,
      "    fix: sudo sysctl fs.inotify.max_user_watches=524288 (and echo fs.inotify.max_user_watches=524288 | sudo tee /etc/sysctl.d/40-kiln-watch.conf to keep it), or kiln watch --poll",
    );
  } else lines.push("  ok");
  if (instances !== undefined && instances < 128) lines.push(`  few instances (${instances}): editors and other watchers share them`, "    fix: sudo sysctl fs.inotify.max_user_instances=512");
  return lines;
}

/** A gRPC remote: whether its port accepts a connection (speaking REAPI is the build's to find out). */
async function tcpLines(url: URL): Promise<string[]> {
  const { connect } = await import("node:net");
  const started = performance.now();
  const port = Number(url.port);
  const outcome = await new Promise<string | undefined>((resolve) => {
    const socket = connect({ host: url.hostname, port, timeout: REMOTE_TIMEOUT_MS });
    socket.once("connect", () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(`no answer within ${REMOTE_TIMEOUT_MS / 1000} s`);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  if (outcome === undefined) return [`  answers: the port accepts connections (${Math.round(performance.now() - started)} ms; the gRPC services are checked by the first build)`];
  return [`  DOES NOT ANSWER: ${outcome}; builds warn once and go on without it`, `    fix: start the REAPI server on ${url.hostname}:${port}, or check the host, port and network between`];
}
