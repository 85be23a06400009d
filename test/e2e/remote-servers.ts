/**
 * Real remote cache servers for the end-to-end tests: Debian's nginx with WebDAV (configured as
 * FINDINGS.md "Remote cache servers that run here" says), optionally behind a bearer token or
 * TLS with a CA of the test's own, and `kiln cache serve`. Each listens on 127.0.0.1 on a free
 * port with a temp root, and is stopped by the test.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { KILN_BIN, makeTempDir } from "./harness.js";

/** The step both remote cache suites build (a:count): reads :upper's output, logs, writes n.json. */
export const COUNT_STEP_TS = [
  `import { readFileSync, writeFileSync } from "node:fs";`,
  `export function count(ctx: any) {`,
  `  const text = readFileSync(ctx.srcs.up, "utf8");`,
  `  ctx.log("counting", text.length);`,
  `  writeFileSync(ctx.out("n.json"), JSON.stringify({ n: text.length }));`,
  `}`,
  ``,
].join("\n");

export const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));

export interface RunningServer {
  url: string;
  port: number;
  /** Where the server keeps its files. */
  root: string;
  stop(): Promise<void>;
  /** Starts it again on the same port and root (after stop). */
  start(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, child?: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode} before listening on ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.on("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

export interface NginxOptions {
  /** PUT needs `Authorization: Bearer <token>` (reads are open). */
  token?: string;
  /** Serve https with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
}

/** nginx with WebDAV as a Bazel HTTP cache: PUT creates, GET/HEAD read, 404 a miss. */
export async function startNginx(options: NginxOptions = {}): Promise<RunningServer> {
  if (!NGINX) throw new Error("nginx is not installed (.ci/run installs it)");
  const dir = makeTempDir("kiln-nginx-");
  const root = join(dir, "root");
  for (const sub of ["root", "tmp", "logs"]) mkdirSync(join(dir, sub), { recursive: true });
  const port = await freePort();
  const auth = options.token
    ? `map $http_authorization $kiln_put_allowed { "Bearer ${options.token}" 1; default 0; }`
    : `map $http_authorization $kiln_put_allowed { default 1; }`;
  const listen = options.tls
    ? `listen 127.0.0.1:${port} ssl; ssl_certificate ${options.tls.cert}; ssl_certificate_key ${options.tls.key};`
    : `listen 127.0.0.1:${port};`;
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `
user root root;
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  ${auth}
  server {
    ${listen}
    root ${root};
    client_max_body_size 0;
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      set $kiln_deny "";
      if ($request_method = PUT) { set $kiln_deny "P"; }
      if ($kiln_put_allowed = 0) { set $kiln_deny "\${kiln_deny}A"; }
      if ($kiln_deny = PA) { return 401; }
    }
  }
}
`,
  );
  let child: ChildProcess | undefined;
  const server: RunningServer = {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    root,
    async start() {
      child = spawn(NGINX!, ["-e", `${dir}/logs/error.log`, "-p", dir, "-c", conf], { stdio: "ignore" });
      await waitForPort(port, child);
    },
    async stop() {
      if (child) await stopChild(child);
    },
  };
  await server.start();
  return server;
}

/** `kiln cache serve` on a free port. */
export async function startKilnServer(args: string[] = []): Promise<RunningServer & { dir: string; output: () => string }> {
  const dir = makeTempDir("kiln-serve-");
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = "";
  const server = {
    url: `http://127.0.0.1:${port}`,
    port,
    root: dir,
    dir,
    output: () => output,
    async start() {
      child = spawn(KILN_BIN, ["cache", "serve", "--port", String(port), "--dir", dir, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      await waitForPort(port, child);
    },
    async stop() {
      if (child) await stopChild(child);
    },
  };
  await server.start();
  return server;
}

/** A CA and a certificate for 127.0.0.1 signed by it, made with openssl. */
export function makeTestCa(): { caCert: string; cert: string; key: string } {
  const dir = makeTempDir("kiln-ca-");
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=kiln test CA"]);
  run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  run(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"]);
  return { caCert: join(dir, "ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server.key") };
}

/**
 * Alters every blob under `casDir` (nginx's `cas/`, or `kiln cache serve`'s sharded `cas/xx/`) in
 * place: same size, every byte flipped, so only the digest check can tell. Returns how many.
 */
export function tamperBlobs(casDir: string): number {
  let count = 0;
  let entries;
  try {
    entries = readdirSync(casDir, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    const bytes = readFileSync(file);
    for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i]! ^ 0xff;
    writeFileSync(file, bytes);
    count++;
  }
  return count;
}

/**
 * bazel-remote (tools/reapi/install.sh builds it from the Go module proxy, and `.ci/run` runs
 * that), a REAPI cache that validates what it is sent: gRPC and Bazel's HTTP protocol on two
 * ports over one store. Where it is not built, its tests skip off CI and fail in CI.
 */
export const BAZEL_REMOTE = ((): string | undefined => {
  const path = process.env.KILN_BAZEL_REMOTE ?? "/var/cache/kiln-reapi/bazel-remote-v2.6.2/bazel-remote";
  if (existsSync(path)) return path;
  if (process.env.CI !== "true") process.stderr.write(`skipping the bazel-remote tests: ${path} is not built (run tools/reapi/install.sh)\n`);
  return process.env.CI === "true" ? path : undefined;
})();

export interface BazelRemote extends RunningServer {
  /** grpc://127.0.0.1:<port> */
  grpcUrl: string;
  /** Where it keeps its CAS blobs (sharded, `<hash>-<size>-<n>` files). */
  casDir: string;
  /** Everything it logged (one line per request). */
  log(): string;
}

/** `uncompressed`: CAS files hold the blobs' bytes as they are (the default zstd frames would detect tampering themselves). */
export async function startBazelRemote(options: { storage?: "zstd" | "uncompressed"; tls?: { cert: string; key: string } } = {}): Promise<BazelRemote> {
  const dir = makeTempDir("kiln-bazel-remote-");
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  let child: ChildProcess | undefined;
  let log = "";
  const server: BazelRemote = {
    url: `http://127.0.0.1:${httpPort}`,
    grpcUrl: `${options.tls ? "grpcs" : "grpc"}://127.0.0.1:${grpcPort}`,
    port: grpcPort,
    root: join(dir, "data"),
    casDir: join(dir, "data", "cas.v2"),
    log: () => log,
    async start() {
      const args = ["--dir", join(dir, "data"), "--max_size", "1", "--http_address", `127.0.0.1:${httpPort}`, "--grpc_address", `127.0.0.1:${grpcPort}`, "--storage_mode", options.storage ?? "zstd"];
      if (options.tls) args.push("--tls_cert_file", options.tls.cert, "--tls_key_file", options.tls.key);
      child = spawn(BAZEL_REMOTE!, args, { stdio: ["ignore", "pipe", "pipe"] });
      child.stdout!.on("data", (chunk: Buffer) => (log += chunk.toString()));
      child.stderr!.on("data", (chunk: Buffer) => (log += chunk.toString()));
      await waitForPort(grpcPort, child);
      await waitForPort(httpPort, child);
    },
    async stop() {
      if (child) await stopChild(child);
    },
  };
  await server.start();
  return server;
}
