/**
 * `kiln cache serve` as the remote cache: kiln's A/B restore against it, what it refuses, LRU
 * eviction, metrics, and a client no one here wrote: Debian's Bazel (bazel-bootstrap) building a
 * genrule workspace with --remote_cache, twice from fresh output bases.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, describe, expect, it } from "vitest";
import { ActionResultSchema, DigestSchema, OutputFileSchema } from "../../src/cache/remote/gen/build/bazel/remote/execution/v2/remote_execution_pb.js";
import { cleanupTempDirs, makeTempDir, makeWorkspace, show, warningLines } from "./harness.js";
import { startKilnServer, tamperBlobs } from "./remote-servers.js";

afterAll(cleanupTempDirs);

const TOKEN = "serve-write-token-42";

function http(method: string, url: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: body !== undefined ? { "content-length": String(Buffer.byteLength(body)), ...headers } : headers }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const auth = { authorization: `Bearer ${TOKEN}` };

const files = {
  "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "serve" });\n`,
  "p/in.txt": "served\n",
  "p/BUILD.ts": [
    `import { cmd } from "kiln";`,
    `export const one = cmd({ srcs: ["in.txt"], outs: ["one.txt"], cmd: "tr a-z A-Z < $SRCS > $OUT/one.txt" });`,
    `export const two = cmd({ srcs: [":one"], outs: ["two.txt"], cmd: "cat $SRCS $SRCS > $OUT/two.txt" });`,
    ``,
  ].join("\n"),
};

describe("kiln cache serve", () => {
  it("copy B restores every step from it; uploads need the token", async () => {
    const server = await startKilnServer(["--token", TOKEN]);
    try {
      const a = makeWorkspace(files);
      const upload = await a.build(["--remote-cache", server.url, "--remote-upload"], { env: { KILN_REMOTE_CACHE_TOKEN: TOKEN } });
      expect(upload.code, show(upload)).toBe(0);
      expect(warningLines(upload), show(upload)).toEqual([]);
      const b = makeWorkspace(files);
      const restored = await b.build(["--remote-cache", server.url]);
      expect(restored.code, show(restored)).toBe(0);
      expect(restored.summary).toMatchObject({ executed: 0, cachedRemote: 2 });
      expect(readFileSync(b.out("p", "two", "two.txt"), "utf8")).toBe("SERVED\nSERVED\n");

      const metrics = (await http("GET", `${server.url}/metrics`)).body;
      expect(metrics).toMatch(/^kiln_cache_hits_total\{kind="ac"\} 2$/m);
      expect(metrics).toMatch(/^kiln_cache_bytes_in_total [1-9]\d*$/m);
      expect((await http("GET", `${server.url}/healthz`)).status).toBe(200);
      expect(server.output()).not.toContain(TOKEN);
    } finally {
      await server.stop();
    }
  });

  it("refuses unauthenticated PUTs, traversal keys, mismatched CAS bodies, non-ActionResult /ac/ bodies, oversized bodies; reads can need a token", async () => {
    const server = await startKilnServer(["--token", TOKEN, "--read-token", "reader", "--max-body", "1K"]);
    try {
      const blob = "some bytes\n";
      const key = sha256(blob);
      expect((await http("PUT", `${server.url}/cas/${key}`, blob)).status).toBe(401);
      expect((await http("PUT", `${server.url}/cas/${key}`, blob, { authorization: "Bearer wrong" })).status).toBe(401);
      expect((await http("PUT", `${server.url}/cas/${key}`, blob, auth)).status).toBe(201);
      // Concurrent uploads of one key: all succeed, the blob is whole.
      const same = await Promise.all([1, 2, 3, 4].map(() => http("PUT", `${server.url}/cas/${key}`, blob, auth)));
      expect(same.every((r) => r.status === 201 || r.status === 204)).toBe(true);
      expect((await http("GET", `${server.url}/cas/${key}`, undefined, { authorization: "Bearer reader" })).body).toBe(blob);
      expect((await http("GET", `${server.url}/cas/${key}`)).status).toBe(401);
      expect((await http("PUT", `${server.url}/cas/${sha256("other")}`, blob, auth)).status).toBe(400);
      for (const path of ["/cas/../../etc/passwd", "/cas/..%2F..%2Fetc%2Fpasswd", `/cas/${key.toUpperCase()}`, `/cas/${key}x`, "/ac/abc"]) {
        expect((await http("GET", `${server.url}${path}`, undefined, auth)).status, path).toBe(400);
      }
      expect((await http("PUT", `${server.url}/ac/${key}`, "not a protobuf \u0000\u0007", auth)).status).toBe(400);
      const result = toBinary(ActionResultSchema, create(ActionResultSchema, {
        outputFiles: [create(OutputFileSchema, { path: "out.txt", digest: create(DigestSchema, { hash: key, sizeBytes: BigInt(blob.length) }) })],
      }));
      expect((await http("PUT", `${server.url}/ac/${key}`, Buffer.from(result), auth)).status).toBe(201);
      expect((await http("PUT", `${server.url}/cas/${sha256("x".repeat(2000))}`, "x".repeat(2000), auth)).status).toBe(413);
    } finally {
      await server.stop();
    }
  });

  // Issue 16: a server whose stored blobs were altered (same size, other bytes) serves them as
  // they are; the client refuses each and builds the step as a local miss would.
  it("every stored blob tampered: one warning and one count, both steps built locally with correct outputs", async () => {
    const server = await startKilnServer();
    try {
      const a = makeWorkspace(files);
      const upload = await a.build(["--remote-cache", server.url, "--remote-upload"]);
      expect(upload.code, show(upload)).toBe(0);
      expect(tamperBlobs(join(server.dir, "cas"))).toBeGreaterThanOrEqual(4);
      const b = makeWorkspace(files);
      const restored = await b.build(["--remote-cache", server.url]);
      expect(restored.code, show(restored)).toBe(0);
      expect(restored.executed).toEqual(["//p:one", "//p:two"]);
      expect(readFileSync(b.out("p", "two", "two.txt"), "utf8")).toBe("SERVED\nSERVED\n");
      const warnings = warningLines(restored);
      expect(warnings, show(restored)).toEqual([
        expect.stringMatching(/^warning: remote cache blob [0-9a-f]{12} \(.* of \/\/p:(one|two)\) does not match its digest: .*\(further refusals are counted at the end\)$/),
        expect.stringMatching(/^warning: \d+ remote cache blobs were refused in all/),
      ]);
    } finally {
      await server.stop();
    }
  });

  it("evicts least recently used entries past --max-size", async () => {
    const server = await startKilnServer(["--max-size", "10K"]);
    try {
      const blobs = Array.from({ length: 8 }, (_, i) => `${String(i)}`.repeat(2048));
      await http("PUT", `${server.url}/cas/${sha256(blobs[0]!)}`, blobs[0]!);
      for (const blob of blobs.slice(1)) {
        // Keep blob 0 recently used.
        expect((await http("GET", `${server.url}/cas/${sha256(blobs[0]!)}`)).status).toBe(200);
        await http("PUT", `${server.url}/cas/${sha256(blob)}`, blob);
      }
      const present = await Promise.all(blobs.map(async (blob) => (await http("HEAD", `${server.url}/cas/${sha256(blob)}`)).status === 200));
      expect(present.filter(Boolean).length).toBeLessThanOrEqual(5);
      expect(present[7]).toBe(true);
      expect((await http("GET", `${server.url}/metrics`)).body).toMatch(/^kiln_cache_evictions_total [1-9]/m);
    } finally {
      await server.stop();
    }
  });
});

const BAZEL = ["/usr/bin/bazel"].find((path) => existsSync(path));

describe.runIf(BAZEL)("Bazel (Debian's bazel-bootstrap) against kiln cache serve", () => {
  it("a second build from a fresh output base gets remote cache hits and the same outputs", { timeout: 240_000 }, async () => {
    const server = await startKilnServer();
    const dir = makeTempDir("kiln-bazel-");
    const ws = join(dir, "ws");
    mkdirSync(ws);
    writeFileSync(join(ws, "WORKSPACE"), "");
    writeFileSync(
      join(ws, "BUILD"),
      [
        `genrule(name = "hello", outs = ["hello.txt"], cmd = "echo hello from bazel > $@")`,
        `genrule(name = "upper", srcs = [":hello"], outs = ["upper.txt"], cmd = "tr a-z A-Z < $< > $@")`,
        ``,
      ].join("\n"),
    );
    const bazel = (outputRoot: string) => {
      const run = spawnSync(BAZEL!, [`--output_user_root=${join(dir, outputRoot)}`, "--batch", "build", "//:upper", `--remote_cache=${server.url}`], {
        cwd: ws,
        encoding: "utf8",
        env: { ...process.env, HOME: dir },
        timeout: 200_000,
      });
      const output = readFileSync(join(ws, "bazel-bin", "upper.txt"), "utf8");
      for (const link of ["bazel-bin", "bazel-out", "bazel-testlogs", "bazel-ws"]) rmSync(join(ws, link), { force: true });
      return { ...run, output };
    };
    try {
      const first = bazel("root1");
      expect(first.status, first.stderr).toBe(0);
      const second = bazel("root2");
      expect(second.status, second.stderr).toBe(0);
      expect(second.stderr).toMatch(/2 remote cache hit/);
      expect(second.output).toBe(first.output);
      expect(first.output).toBe("HELLO FROM BAZEL\n");
    } finally {
      await server.stop();
      // Bazel's output base holds read-only files.
      execFileSync("chmod", ["-R", "u+w", dir]);
    }
  });
});
