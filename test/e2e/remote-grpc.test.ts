/**
 * The remote cache over REAPI's gRPC services, against bazel-remote (a server no one here wrote,
 * which checks what it is sent): copy A uploads, copy B at another path with an empty local cache
 * restores every step, large blobs through ByteStream and small ones through the batch calls; an
 * entry written over Bazel's HTTP protocol is a hit over gRPC (one store, two wires); a tampered
 * blob and a stopped server each cost one warning and a local build, never a wrong output.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, show, warningLines, type Fixture } from "./harness.js";
import { BAZEL_REMOTE, COUNT_STEP_TS, makeTestCa, startBazelRemote, tamperBlobs } from "./remote-servers.js";

afterAll(cleanupTempDirs);

/** 3 MiB: over the batch limit (2 MiB), so it travels by ByteStream Write and Read. */
const BIG = 3 << 20;

function files(): Record<string, string> {
  return {
    "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "grpc" });\n`,
    "a/in.txt": "hello grpc cache\n",
    "a/count.ts": COUNT_STEP_TS,
    "a/BUILD.ts": [
      `import { cmd, step } from "kiln";`,
      `export const upper = cmd({ srcs: ["in.txt"], outs: ["up.txt"], cmd: "echo upper-log; tr a-z A-Z < $SRCS > $OUT/up.txt" });`,
      `export const count = step({ srcs: { up: ":upper" }, outs: ["n.json"], run: "./count.ts#count" });`,
      `export const big = cmd({ srcs: ["in.txt"], outs: ["big.bin", "sub/y.txt"], cmd: "head -c ${BIG} /dev/zero | tr '\\\\0' k > $OUT/big.bin; cat $SRCS >> $OUT/big.bin; mkdir -p $OUT/sub; echo y > $OUT/sub/y.txt" });`,
      ``,
    ].join("\n"),
    "b/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const final = cmd({ srcs: ["//a:count", "//a:big"], outs: ["f.txt"], cmd: "wc -c $SRCS > $OUT/f.txt" });`,
      ``,
    ].join("\n"),
  };
}

const LABELS = ["//a:big", "//a:count", "//a:upper", "//b:final"];
const OUTPUTS = ["a/upper/up.txt", "a/count/n.json", "a/big/big.bin", "a/big/sub/y.txt", "b/final/f.txt"];

function outputsOf(fx: Fixture): Record<string, string> {
  return Object.fromEntries(OUTPUTS.map((path) => [path, readFileSync(join(fx.ws, "kiln-out", path), "latin1")]));
}

describe.runIf(BAZEL_REMOTE)("remote cache over gRPC (bazel-remote)", () => {
  it("copy B at another path with an empty local cache restores every step over gRPC; ByteStream carries the large blob", async () => {
    const server = await startBazelRemote();
    try {
      const a = makeWorkspace(files());
      const run = await a.build(["--remote-cache", server.grpcUrl, "--remote-upload"]);
      expect(run.code, show(run)).toBe(0);
      expect(run.executed).toEqual(LABELS);
      expect(warningLines(run), show(run)).toEqual([]);
      const expected = outputsOf(a);
      expect(expected["a/big/big.bin"]!.length).toBe(BIG + "hello grpc cache\n".length);
      // bazel-remote logged every upload it accepted: one AC entry per step, named by the key.
      const log = server.log();
      for (const step of run.steps) expect(log, log).toMatch(new RegExp(`GRPC AC PUT ${step.key} OK`));
      expect(log).toMatch(/GRPC BYTESTREAM WRITE COMPLETED/i);

      const b = makeWorkspace(files());
      const restored = await b.build(["--remote-cache", server.grpcUrl]);
      expect(restored.code, show(restored)).toBe(0);
      expect(restored.executed).toEqual([]);
      expect(restored.summary).toMatchObject({ executed: 0, cached: 4, cachedRemote: 4, cachedLocal: 0 });
      expect(warningLines(restored), show(restored)).toEqual([]);
      expect(outputsOf(b)).toEqual(expected);
      expect(server.log()).toMatch(/GRPC BYTESTREAM READ COMPLETED/i);

      // kiln doctor asks the server what a build would: GetCapabilities.
      const doctor = await b.kiln(["doctor"], { env: { KILN_REMOTE_CACHE: server.grpcUrl } });
      expect(doctor.stdout, show(doctor)).toMatch(/^ {2}answers: GetCapabilities in \d+ ms \(ok: SHA-256; batch calls up to \d+ KiB, ByteStream above\)$/m);

      // The log came along too: `kiln why` shows it.
      const why = await b.kiln(["why", "//a:upper"]);
      const logPath = /log: (\S+)/.exec(why.stdout)?.[1];
      expect(logPath && readFileSync(logPath, "utf8"), show(why)).toContain("upper-log");

      // And provenance: B's statement (every step a remote hit) is as complete as A's.
      const [fromA, fromB] = await Promise.all([a, b].map(async (fx) => JSON.parse((await fx.kiln(["provenance", "//b:final"])).stdout)));
      expect(fromB.predicate.buildDefinition.internalParameters).not.toHaveProperty("incomplete");
      expect(fromB.predicate.buildDefinition.resolvedDependencies).toEqual(fromA.predicate.buildDefinition.resolvedDependencies);
    } finally {
      await server.stop();
    }
  });

  it("one store, two wires: what copy A wrote over Bazel's HTTP protocol is a hit over gRPC, and the reverse", async () => {
    const server = await startBazelRemote();
    try {
      const a = makeWorkspace(files());
      const http = await a.build(["--remote-cache", server.url, "--remote-upload"]);
      expect(http.code, show(http)).toBe(0);
      const b = makeWorkspace(files());
      const overGrpc = await b.build(["--remote-cache", server.grpcUrl]);
      expect(overGrpc.summary, show(overGrpc)).toMatchObject({ executed: 0, cachedRemote: 4 });
      expect(outputsOf(b)).toEqual(outputsOf(a));

      // An edit uploaded over gRPC is a hit for a third copy over HTTP.
      const edited = { ...files(), "a/in.txt": "edited over grpc\n" };
      const c = makeWorkspace(edited);
      const up = await c.build(["--remote-cache", server.grpcUrl, "--remote-upload"]);
      expect(up.executed, show(up)).toEqual(LABELS);
      const d = makeWorkspace(edited);
      const overHttp = await d.build(["--remote-cache", server.url]);
      expect(overHttp.summary, show(overHttp)).toMatchObject({ executed: 0, cachedRemote: 4 });
      expect(outputsOf(d)).toEqual(outputsOf(c));
    } finally {
      await server.stop();
    }
  });

  it("blobs tampered on the server's disk are refused with one warning and rebuilt locally; a stopped server is one warning", async () => {
    // Stored uncompressed, so a flipped byte reaches kiln as a wrong blob, not a broken zstd frame.
    const server = await startBazelRemote({ storage: "uncompressed" });
    try {
      const a = makeWorkspace(files());
      expect((await a.build(["--remote-cache", server.grpcUrl, "--remote-upload"])).code).toBe(0);
      const expected = outputsOf(a);
      await server.stop();
      expect(tamperBlobs(server.casDir)).toBeGreaterThan(4);
      await server.start();
      const b = makeWorkspace(files());
      const run = await b.build(["--remote-cache", server.grpcUrl]);
      expect(run.code, show(run)).toBe(0);
      expect(run.executed).toEqual(LABELS);
      expect(outputsOf(b)).toEqual(expected);
      const refused = warningLines(run);
      expect(refused[0], show(run)).toMatch(/^warning: remote cache blob [0-9a-f]{12} \(.+ of \/\/a:\w+\) does not match its digest: its content hashes to [0-9a-f]{12}; refused, building \/\/a:\w+ locally/);
      expect(refused.at(-1)).toMatch(/^warning: \d+ remote cache blobs were refused in all/);

      await server.stop();
      const c = makeWorkspace(files());
      const down = await c.build(["--remote-cache", server.grpcUrl]);
      expect(down.code, show(down)).toBe(0);
      expect(down.executed).toEqual(LABELS);
      expect(warningLines(down), show(down)).toEqual([
        expect.stringMatching(/^warning: remote cache grpc:\/\/127\.0\.0\.1:\d+ refused the connection \(GetActionResult\): using the local cache only for the rest of this build$/),
      ]);
      expect(outputsOf(c)).toEqual(expected);
    } finally {
      await server.stop();
    }
  });

  it("grpcs:// trusts the CA named by NODE_EXTRA_CA_CERTS; without it, one warning and a local build", async () => {
    const ca = makeTestCa();
    const server = await startBazelRemote({ tls: { cert: ca.cert, key: ca.key } });
    try {
      expect(server.grpcUrl).toMatch(/^grpcs:/);
      const a = makeWorkspace(files());
      const up = await a.build(["--remote-cache", server.grpcUrl, "--remote-upload"], { env: { NODE_EXTRA_CA_CERTS: ca.caCert } });
      expect(warningLines(up), show(up)).toEqual([]);
      const b = makeWorkspace(files());
      const restored = await b.build(["--remote-cache", server.grpcUrl], { env: { NODE_EXTRA_CA_CERTS: ca.caCert } });
      expect(restored.summary, show(restored)).toMatchObject({ executed: 0, cachedRemote: 4 });
      expect(outputsOf(b)).toEqual(outputsOf(a));
      const c = makeWorkspace(files());
      const untrusted = await c.build(["--remote-cache", server.grpcUrl], { env: { NODE_EXTRA_CA_CERTS: undefined } });
      expect(untrusted.code, show(untrusted)).toBe(0);
      expect(untrusted.executed).toEqual(LABELS);
      expect(warningLines(untrusted), show(untrusted)).toEqual([expect.stringMatching(/^warning: remote cache grpcs:\/\/127\.0\.0\.1:\d+ could not be verified over TLS: .*NODE_EXTRA_CA_CERTS.*: using the local cache only for the rest of this build$/)]);
    } finally {
      await server.stop();
    }
  });

  it("a malformed grpc:// URL or an instance on an HTTP cache is a usage error (exit 2) naming the flag", async () => {
    const a = makeWorkspace(files());
    const withPath = await a.kiln(["build", "//a:upper", "--remote-cache", "grpc://127.0.0.1:9092/some/path"]);
    expect(withPath.code, show(withPath)).toBe(2);
    expect(withPath.stderr).toContain("a gRPC remote cache URL is grpc://host:port with no path or user (from --remote-cache)");
    const instance = await a.kiln(["build", "//a:upper", "--remote-cache", "http://127.0.0.1:9/", "--remote-instance", "main"]);
    expect(instance.code, show(instance)).toBe(2);
    expect(instance.stderr).toContain("--remote-instance names a REAPI instance, for a grpc:// remote cache");
  });
});
