/**
 * The shared remote cache against a real server (Debian's nginx with WebDAV, the protocol of
 * Bazel's HTTP cache): one workspace copy builds and uploads, another copy at another path with
 * an empty local cache restores every step from the remote; and the faults a remote can have (down
 * mid-build, 500s, a tampered blob, a truncated body, a wrong token, a forged result, an unknown
 * CA) each cost one warning and a local build, never a wrong output or a failed build.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, show, warningLines, type Fixture, type JsonRun } from "./harness.js";
import { statementSchema } from "../../src/lock/statement-schema.js";
import { readStatementStrictly, VERIFIER_AVAILABLE } from "../provenance/independent-verifier.js";
import { COUNT_STEP_TS, freePort, makeTestCa, NGINX, startNginx, tamperBlobs, type RunningServer } from "./remote-servers.js";

afterAll(cleanupTempDirs);

const TOKEN = "test-write-token-1f2e3d";

function files(): Record<string, string> {
  return {
    "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "remote" });\n`,
    "a/in.txt": "hello remote cache\n",
    "a/count.ts": COUNT_STEP_TS,
    "a/BUILD.ts": [
      `import { cmd, step } from "kiln";`,
      `export const upper = cmd({ srcs: ["in.txt"], outs: ["up.txt"], cmd: "echo upper-log; tr a-z A-Z < $SRCS > $OUT/up.txt" });`,
      `export const count = step({ srcs: { up: ":upper" }, outs: ["n.json"], run: "./count.ts#count" });`,
      `export const pair = cmd({ srcs: [], outs: ["x.txt", "sub/y.txt"], cmd: "echo x > $OUT/x.txt; mkdir -p $OUT/sub; echo y > $OUT/sub/y.txt" });`,
      ``,
    ].join("\n"),
    "b/BUILD.ts": [
      `import { cmd } from "kiln";`,
      `export const final = cmd({ srcs: ["//a:count", "//a:pair"], outs: ["f.txt"], cmd: "cat $SRCS > $OUT/f.txt" });`,
      ``,
    ].join("\n"),
  };
}

const LABELS = ["//a:count", "//a:pair", "//a:upper", "//b:final"];
const OUTPUTS = ["a/upper/up.txt", "a/count/n.json", "a/pair/x.txt", "a/pair/sub/y.txt", "b/final/f.txt"];

function outputsOf(fx: Fixture): Record<string, string> {
  return Object.fromEntries(OUTPUTS.map((path) => [path, readFileSync(join(fx.ws, "kiln-out", path), "utf8")]));
}

const warnings = warningLines;

/** Builds copy A with upload, and returns it with its outputs. */
async function populate(url: string, env: Record<string, string> = {}): Promise<{ a: Fixture; expected: Record<string, string>; run: JsonRun }> {
  const a = makeWorkspace(files());
  const run = await a.build(["--remote-cache", url, "--remote-upload"], { env: { KILN_REMOTE_CACHE_TOKEN: TOKEN, ...env } });
  expect(run.code, show(run)).toBe(0);
  expect(run.executed).toEqual(LABELS);
  return { a, expected: outputsOf(a), run };
}

function remoteFiles(root: string, kind: "ac" | "cas"): string[] {
  try {
    return readdirSync(join(root, kind)).sort();
  } catch {
    return [];
  }
}

describe.runIf(NGINX)("remote cache over nginx (WebDAV)", () => {
  let nginx: RunningServer;

  it("copy B at another path with an empty local cache restores every step from the remote", async () => {
    nginx = await startNginx({ token: TOKEN });
    const { a, expected, run } = await populate(nginx.url);
    expect(warnings(run), show(run)).toEqual([]);
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
    // Blobs (outputs, logs, key ingredients) and one ActionResult per step, under the key.
    expect(remoteFiles(nginx.root, "ac")).toEqual(run.steps.map((step) => step.key).sort());
    for (const name of remoteFiles(nginx.root, "cas")) expect(name).toMatch(/^[0-9a-f]{64}$/);

    const b = makeWorkspace(files());
    expect(b.ws).not.toBe(a.ws);
    const restored = await b.build(["--remote-cache", nginx.url]);
    expect(restored.code, show(restored)).toBe(0);
    expect(restored.executed).toEqual([]);
    expect(restored.cached).toEqual(LABELS);
    expect(restored.steps.every((step) => step.cache === "remote"), show(restored)).toBe(true);
    expect(restored.summary).toMatchObject({ executed: 0, cached: 4, cachedRemote: 4, cachedLocal: 0 });
    expect(warnings(restored)).toEqual([]);
    expect(outputsOf(b)).toEqual(expected);

    // What kiln keeps beside a result came along: `kiln why` reads the restored ingredients and log.
    const why = await b.kiln(["why", "//a:upper"]);
    expect(why.code, show(why)).toBe(0);
    const logPath = /log: (\S+)/.exec(why.stdout)?.[1];
    expect(logPath && readFileSync(logPath, "utf8"), show(why)).toContain("upper-log");

    // And provenance's record: B's statement, every step a remote hit, is as complete as A's.
    const statementOf = async (fx: Fixture) => {
      const run = await fx.kiln(["provenance", "//b:final"]);
      expect(run.code, show(run)).toBe(0);
      return statementSchema.parse(JSON.parse(run.stdout));
    };
    const [fromA, fromB] = [await statementOf(a), await statementOf(b)];
    expect(fromB.predicate.buildDefinition.internalParameters).not.toHaveProperty("incomplete");
    const stepsOf = (s: typeof fromA) => (s.predicate.buildDefinition.internalParameters!.steps as { label: string; key: string }[]).map((step) => [step.label, step.key]);
    expect(stepsOf(fromB).map(([label]) => label).sort()).toEqual(LABELS);
    expect(stepsOf(fromB)).toEqual(stepsOf(fromA));
    expect(fromB.predicate.buildDefinition.resolvedDependencies).toEqual(fromA.predicate.buildDefinition.resolvedDependencies);
    expect(fromB.predicate.buildDefinition.resolvedDependencies.map((d) => d.name)).toEqual(expect.arrayContaining(["a/in.txt", "a/count.ts", "a/BUILD.ts", "b/BUILD.ts", "WORKSPACE.ts"]));
    expect(fromB.subject).toEqual(fromA.subject);
    if (VERIFIER_AVAILABLE) {
      const file = join(b.ws, "..", "statement.json");
      writeFileSync(file, JSON.stringify(fromB));
      expect(readStatementStrictly(file)).toMatchObject({ status: 0 });
    }

    // Now local: with the remote gone, B's next build is local hits (no-op), not a warning.
    await nginx.stop();
    const again = await b.build(["--remote-cache", nginx.url]);
    expect(again.code, show(again)).toBe(0);
    expect(again.summary).toMatchObject({ executed: 0, cachedLocal: 4, cachedRemote: 0 });
    expect(warnings(again)).toEqual([]);
    // A third copy with the remote down: one warning, everything built locally, same outputs.
    const c = makeWorkspace(files());
    const down = await c.build(["--remote-cache", nginx.url]);
    expect(down.code, show(down)).toBe(0);
    expect(down.executed).toEqual(LABELS);
    expect(warnings(down), show(down)).toEqual([expect.stringMatching(/^warning: remote cache http:\/\/127\.0\.0\.1:\d+ refused the connection .*: using the local cache only for the rest of this build$/)]);
    expect(outputsOf(c)).toEqual(expected);
  });

  it("a blob tampered on the server's disk is refused, reported once, and its step built locally", async () => {
    const server = await startNginx();
    try {
      const { expected, run } = await populate(server.url);
      const pairKey = run.steps.find((step) => step.label === "//a:pair")!.key;
      // x.txt's blob ("x\n"), damaged in place on the server.
      const casDir = join(server.root, "cas");
      const victim = remoteFiles(server.root, "cas").find((name) => readFileSync(join(casDir, name), "utf8") === "x\n")!;
      expect(victim).toBeDefined();
      writeFileSync(join(casDir, victim), "evil\n");
      const b = makeWorkspace(files());
      const restored = await b.build(["--remote-cache", server.url]);
      expect(restored.code, show(restored)).toBe(0);
      expect(outputsOf(b)).toEqual(expected);
      expect(restored.executed).toEqual(["//a:pair"]);
      expect(restored.steps.find((s) => s.label === "//a:pair")!.key).toBe(pairKey);
      expect(warnings(restored), show(restored)).toEqual([
        expect.stringMatching(new RegExp(`^warning: remote cache blob ${victim.slice(0, 12)} \\(x\\.txt of //a:pair\\) does not match its digest: .*refused, building //a:pair locally \\(further refusals are counted at the end\\)$`)),
      ]);
    } finally {
      await server.stop();
    }
  });

  // Issue 16: every blob altered on the server (same size, other bytes). The refusals must leave
  // each step exactly as a local miss would, and cost two lines, not one a blob.
  it("every blob tampered on the server: one warning and one count, every step built locally, same outputs", async () => {
    const server = await startNginx();
    try {
      const { expected, run } = await populate(server.url);
      expect(tamperBlobs(join(server.root, "cas"))).toBeGreaterThan(LABELS.length);
      const b = makeWorkspace(files());
      const restored = await b.build(["--remote-cache", server.url]);
      expect(restored.code, show(restored)).toBe(0);
      expect(restored.executed).toEqual(LABELS);
      expect(restored.steps.map((step) => step.key).sort()).toEqual(run.steps.map((step) => step.key).sort());
      expect(outputsOf(b)).toEqual(expected);
      expect(warnings(restored), show(restored)).toEqual([
        expect.stringMatching(/^warning: remote cache blob [0-9a-f]{12} \(.* of \/\/[ab]:\w+\) does not match its digest: its content hashes to [0-9a-f]{12}; refused, building \/\/[ab]:\w+ locally \(further refusals are counted at the end\)$/),
        expect.stringMatching(/^warning: \d+ remote cache blobs were refused in all \(their bytes do not match their digests\); their steps were built locally$/),
      ]);
      // The local results are whole: a second build is a no-op, with no word of the remote.
      const again = await b.build(["--remote-cache", server.url]);
      expect(again.code, show(again)).toBe(0);
      expect(again.executed).toEqual([]);
      expect(warnings(again), show(again)).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it("a wrong token: the upload is refused with one warning naming the 401, never the token; the build succeeds", async () => {
    const server = await startNginx({ token: TOKEN });
    try {
      const a = makeWorkspace(files());
      const run = await a.build(["--remote-cache", server.url, "--remote-upload"], { env: { KILN_REMOTE_CACHE_TOKEN: "wrong-token-abc" } });
      expect(run.code, show(run)).toBe(0);
      expect(run.executed).toEqual(LABELS);
      const found = warnings(run);
      expect(found.length, show(run)).toBeGreaterThanOrEqual(1);
      expect(found[0]).toMatch(/refused PUT .* with HTTP 401 \(check KILN_REMOTE_CACHE_TOKEN/);
      // The one other line allowed: how many results were not uploaded.
      expect(found.slice(1).every((line) => /results? (was|were) not uploaded/.test(line)), show(run)).toBe(true);
      expect(found.length).toBeLessThanOrEqual(2);
      expect(run.stdout + run.stderr).not.toContain("wrong-token-abc");
      expect(remoteFiles(server.root, "ac")).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it("the remote stopped mid-build: one warning, the build finishes locally with correct outputs", async () => {
    const server = await startNginx();
    const chain: Record<string, string> = {
      "WORKSPACE.ts": `import { workspace } from "kiln";\nexport default workspace({ name: "chain" });\n`,
      "c/BUILD.ts": [
        `import { cmd } from "kiln";`,
        `export const s1 = cmd({ srcs: [], outs: ["1.txt"], cmd: "sleep 0.3; echo 1 > $OUT/1.txt" });`,
        ...[2, 3, 4, 5, 6].map((n) => `export const s${n} = cmd({ srcs: [":s${n - 1}"], outs: ["${n}.txt"], cmd: "sleep 0.3; cat $SRCS > $OUT/${n}.txt; echo ${n} >> $OUT/${n}.txt" });`),
        ``,
      ].join("\n"),
    };
    const a = makeWorkspace(chain);
    const child = a.build(["--remote-cache", server.url, "--remote-upload", "-j1"]);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await server.stop();
    const run = await child;
    expect(run.code, show(run)).toBe(0);
    expect(run.executed).toHaveLength(6);
    expect(readFileSync(a.out("c", "s6", "6.txt"), "utf8")).toBe("1\n2\n3\n4\n5\n6\n");
    const found = warnings(run);
    expect(found[0], show(run)).toMatch(/^warning: remote cache http:\/\/127\.0\.0\.1:\d+ .*: using the local cache only for the rest of this build$/);
    expect(found.slice(1).every((line) => /not uploaded/.test(line)), show(run)).toBe(true);
    expect(found.length).toBeLessThanOrEqual(2);
  });
});

/** A server of the test's own, for faults nginx does not make: 500s, bodies cut short. */
async function startFaultyServer(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const port = await freePort();
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${port}`, server };
}

describe.runIf(NGINX)("remote cache faults from a misbehaving server", () => {
  it("a remote answering 500: one warning, then local only; outputs correct", async () => {
    let requests = 0;
    const { url, server } = await startFaultyServer((_request, response) => {
      requests++;
      response.writeHead(500, "Internal Server Error").end("boom");
    });
    try {
      const b = makeWorkspace(files());
      const run = await b.build(["--remote-cache", url, "--remote-upload"]);
      expect(run.code, show(run)).toBe(0);
      expect(run.executed).toEqual(LABELS);
      expect(warnings(run)[0], show(run)).toMatch(/^warning: remote cache http:\/\/127\.0\.0\.1:\d+ answered GET ac\/[0-9a-f]{64} with HTTP 500 Internal Server Error: using the local cache only/);
      expect(warnings(run).slice(1).every((line) => /not uploaded/.test(line)), show(run)).toBe(true);
      // The breaker: after the first failure, (almost) nothing more is asked of the server.
      expect(requests).toBeLessThanOrEqual(2);
    } finally {
      server.close();
    }
  });

  it("a truncated response (the connection closed mid-body): one warning, local build, correct outputs", async () => {
    const nginx = await startNginx();
    try {
      const { expected } = await populate(nginx.url);
      // Serves what nginx holds, but every blob is cut off half way with the full length announced.
      const { url, server } = await startFaultyServer((request, response) => {
        const path = join(nginx.root, request.url!.replace(/^\//, ""));
        let body: Buffer;
        try {
          body = readFileSync(path);
        } catch {
          response.writeHead(404).end();
          return;
        }
        if (request.url!.startsWith("/ac/")) response.writeHead(200, { "content-length": body.length }).end(body);
        else {
          response.writeHead(200, { "content-length": body.length });
          response.write(body.subarray(0, Math.floor(body.length / 2)), () => response.socket!.destroy());
        }
      });
      try {
        const b = makeWorkspace(files());
        const run = await b.build(["--remote-cache", url]);
        expect(run.code, show(run)).toBe(0);
        expect(outputsOf(b)).toEqual(expected);
        expect(run.summary.cachedRemote).toBe(0);
        expect(warnings(run), show(run)).toHaveLength(1);
        expect(warnings(run)[0]).toMatch(/^warning: remote cache http:\/\/127\.0\.0\.1:\d+ (closed the connection in the middle of|reset the connection \()GET cas\/[0-9a-f]{64}\)?: using the local cache only for the rest of this build$/);
      } finally {
        server.close();
      }
    } finally {
      await nginx.stop();
    }
  });
});

describe.runIf(NGINX)("signed results (KILN_REMOTE_CACHE_SIGNING_KEY)", () => {
  it("signed entries are hits for the key's holders; unsigned and forged ones are refused", async () => {
    const nginx = await startNginx();
    try {
      const signed = { KILN_REMOTE_CACHE_SIGNING_KEY: "ci-signing-key-1" };
      const { expected } = await populate(nginx.url, signed);
      const b = makeWorkspace(files());
      const good = await b.build(["--remote-cache", nginx.url], { env: signed });
      expect(good.code, show(good)).toBe(0);
      expect(good.summary.cachedRemote, show(good)).toBe(4);
      expect(outputsOf(b)).toEqual(expected);

      // Another key (an attacker's, or a pull request's): every result refused, built locally.
      const c = makeWorkspace(files());
      const forged = await c.build(["--remote-cache", nginx.url], { env: { KILN_REMOTE_CACHE_SIGNING_KEY: "another-key" } });
      expect(forged.code, show(forged)).toBe(0);
      expect(forged.executed).toEqual(LABELS);
      expect(outputsOf(c)).toEqual(expected);
      // One warning for the first refusal, one count at the end: not a line a step.
      expect(warnings(forged), show(forged)).toEqual([
        expect.stringMatching(/refused: its signature does not match.*\(further refusals are counted at the end\)$/),
        "warning: 4 remote cache results were refused in all, and built locally",
      ]);

      // Unsigned entries (written without the key, e.g. by a pull request's job) are refused too.
      const plain = await startNginx();
      try {
        await populate(plain.url);
        const d = makeWorkspace(files());
        const unsigned = await d.build(["--remote-cache", plain.url], { env: signed });
        expect(unsigned.executed, show(unsigned)).toEqual(LABELS);
        expect(warnings(unsigned), show(unsigned)).toEqual([
          expect.stringMatching(/refused: it is not signed/),
          "warning: 4 remote cache results were refused in all, and built locally",
        ]);
      } finally {
        await plain.stop();
      }
    } finally {
      await nginx.stop();
    }
  });
});

describe.runIf(NGINX)("HTTPS with a company CA (NODE_EXTRA_CA_CERTS)", () => {
  it("trusts the CA named by NODE_EXTRA_CA_CERTS; without it, one warning and a local build", async () => {
    const ca = makeTestCa();
    const nginx = await startNginx({ tls: { cert: ca.cert, key: ca.key } });
    try {
      const { expected, run } = await populate(nginx.url, { NODE_EXTRA_CA_CERTS: ca.caCert });
      expect(warnings(run), show(run)).toEqual([]);
      const b = makeWorkspace(files());
      const restored = await b.build(["--remote-cache", nginx.url], { env: { NODE_EXTRA_CA_CERTS: ca.caCert } });
      expect(restored.summary.cachedRemote, show(restored)).toBe(4);
      expect(outputsOf(b)).toEqual(expected);

      const c = makeWorkspace(files());
      const untrusted = await c.build(["--remote-cache", nginx.url], { env: { NODE_EXTRA_CA_CERTS: undefined } });
      expect(untrusted.code, show(untrusted)).toBe(0);
      expect(untrusted.executed).toEqual(LABELS);
      expect(warnings(untrusted), show(untrusted)).toEqual([expect.stringMatching(/could not be verified over TLS: .*NODE_EXTRA_CA_CERTS/)]);
    } finally {
      await nginx.stop();
    }
  });
});
