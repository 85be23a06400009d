/**
 * `kiln doctor` beyond the sandbox (hermetic.test.ts covers that): the cache's location, size and
 * cap; whether the remote cache answers (real HTTP servers: one that misses, one that refuses,
 * and a port nobody listens on); inotify limits for watch. Each problem comes with its fix.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeWorkspace, show, WORKSPACE_TS } from "./harness.js";

afterAll(cleanupTempDirs);

const servers: Server[] = [];
/** A server answering every request with `status`; returns its base URL. */
async function serve(status: number, requests: string[] = []): Promise<string> {
  const server = createServer((request, response) => {
    requests.push(`${request.method} ${request.url} ${request.headers.authorization ?? ""}`.trim());
    response.statusCode = status;
    response.end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
/** A port that was just free: nobody answers there. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}
afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
});

const f = makeWorkspace({
  "WORKSPACE.ts": WORKSPACE_TS,
  "p/BUILD.ts": `import { cmd } from "kiln";\nexport const big = cmd({ outs: ["o"], cmd: "head -c 300000 /dev/zero > $OUT/o" });\n`,
});
beforeAll(async () => {
  expect((await f.build()).code).toBe(0);
});

describe("kiln doctor", () => {
  it("reports the cache's location, size and cap, with the fix when over it", async () => {
    const run = await f.kiln(["doctor"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.stdout).toContain(`cache: ${f.cache} (from KILN_CACHE_DIR)`);
    expect(run.stdout).toMatch(/^ {2}size: 29\d KiB in \d+ blobs \(29\d KiB of it also linked into kiln-out or sandboxes\); cap 10 GiB \(the default/m);
    expect(run.stdout).toMatch(/^ {2}ok \(kiln cache stats/m);
    expect((await f.kiln(["clean"])).code).toBe(0);
    const over = await f.kiln(["doctor"], { env: { KILN_CACHE_MAX_SIZE: "100K" } });
    expect(over.stdout).toContain("cap 100 KiB (KILN_CACHE_MAX_SIZE)");
    expect(over.stdout).toContain("fix: over the cap; builds trim it in the background, or now: kiln cache gc");
  });

  it("says whether the remote cache answers, and what to do when it does not", async () => {
    const requests: string[] = [];
    const missing = await serve(404, requests);
    const ok = await f.kiln(["doctor"], { env: { KILN_REMOTE_CACHE: missing, KILN_REMOTE_CACHE_TOKEN: "t0ken" } });
    expect(ok.stdout).toContain(`remote cache: ${missing}, read only`);
    expect(ok.stdout).toMatch(/^ {2}answers: HTTP 404 in \d+ ms \(ok\)$/m);
    expect(requests).toEqual([`HEAD /ac/${"0".repeat(64)} Bearer t0ken`]);

    const refusing = await serve(401);
    const refused = await f.kiln(["doctor", "--remote-cache", refusing]);
    expect(refused.stdout).toContain("answers but refuses: HTTP 401");
    expect(refused.stdout).toContain("fix: set KILN_REMOTE_CACHE_TOKEN");

    const nobody = await closedPort();
    const down = await f.kiln(["doctor"], { env: { KILN_REMOTE_CACHE: nobody } });
    expect(down.code, show(down)).toBe(0);
    expect(down.stdout).toContain("DOES NOT ANSWER: ECONNREFUSED");
    expect(down.stdout).toMatch(/fix: start the server \(kiln cache serve --dir DIR --port \d+\)/);

    const grpc = await f.kiln(["doctor"], { env: { KILN_REMOTE_CACHE: missing.replace("http:", "grpc:") } });
    expect(grpc.stdout).toContain("answers: the port accepts connections");
    const grpcDown = await f.kiln(["doctor"], { env: { KILN_REMOTE_CACHE: nobody.replace("http:", "grpc:") } });
    expect(grpcDown.stdout).toContain("DOES NOT ANSWER: ECONNREFUSED");

    const none = await f.kiln(["doctor"]);
    expect(none.stdout).toContain("remote cache: none");
  });

  it("reports inotify's limits for watch, as the kernel says them", async () => {
    const run = await f.kiln(["doctor"]);
    const watches = Number(readFileSync("/proc/sys/fs/inotify/max_user_watches", "utf8"));
    expect(run.stdout).toContain(`watch: inotify allows ${watches} watches`);
    if (watches < 65_536) expect(run.stdout).toContain("fix: sudo sysctl fs.inotify.max_user_watches=524288");
    else expect(run.stdout).toMatch(/^watch: .*\n {2}ok$/m);
  });
});
