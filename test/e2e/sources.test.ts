/**
 * Sources declared in WORKSPACE.ts (`@name`), kiln.lock, --locked, url sources served by a local
 * HTTP server this file starts, and provenance statements walked from the cache. Real CLI, fresh
 * temp dirs.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { statementSchema } from "../../src/lock/statement-schema.js";
import { cleanupTempDirs, makeTempDir, makeWorkspace, show } from "./harness.js";

afterAll(cleanupTempDirs);

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

function workspaceWith(sources: string): string {
  return `import { source, workspace } from "kiln";\nexport default workspace({ name: "src", version: "1.2.3", sources: { ${sources} } });\n`;
}

const CAT_BUILD = `import { cmd } from "kiln";
export const cat = cmd({ srcs: { s: "@share" }, outs: ["o.txt"], cmd: "cat $SRCS > $OUT/o.txt; echo $SRCS >> $OUT/o.txt" });
`;

describe("path sources and kiln.lock", () => {
  it("a directory source appears under external/<name>/, is locked, drifts, is refused with --locked and read from its snapshot", async () => {
    const share = join(makeTempDir(), "share");
    mkdirSync(join(share, "sub"), { recursive: true });
    writeFileSync(join(share, "a.txt"), "alpha\n");
    writeFileSync(join(share, "sub", "b.txt"), "beta\n");
    const f = makeWorkspace({ "WORKSPACE.ts": workspaceWith(`share: source.path(${JSON.stringify(share)})`), "pkg/BUILD.ts": CAT_BUILD });

    const first = await f.build(["//pkg:cat"]);
    expect(first.code, show(first)).toBe(0);
    expect(first.stderr).toContain("@share is not in kiln.lock");
    expect(f.read("kiln-out/pkg/cat/o.txt")).toBe("alpha\nbeta\nexternal/share/a.txt external/share/sub/b.txt\n");

    // lock --check without a lock: exit 1; kiln lock writes it; --check then passes.
    expect((await f.kiln(["lock", "--check"])).code).toBe(1);
    const lock = await f.kiln(["lock"]);
    expect(lock.code, show(lock)).toBe(0);
    const text = f.read("kiln.lock");
    const parsed = JSON.parse(text) as { format: string; sources: Record<string, Record<string, unknown>> };
    expect(parsed.format).toBe("kiln.lock/1");
    expect(parsed.sources.share).toMatchObject({ kind: "path", location: share, size: 11, files: 2 });
    expect(Object.keys(parsed.sources.share!)).toEqual(["files", "kind", "location", "sha256", "size"]);
    expect((await f.kiln(["lock"])).code).toBe(0);
    expect(f.read("kiln.lock")).toBe(text); // stable
    const check = await f.kiln(["lock", "--check"]);
    expect(check.code, show(check)).toBe(0);

    // Drift: the directory changes.
    writeFileSync(join(share, "a.txt"), "alpha, edited\n");
    const drift = await f.kiln(["lock", "--check"]);
    expect(drift.code, show(drift)).toBe(1);
    expect(drift.stdout).toContain("@share: changed since kiln.lock");
    expect(drift.stdout).toContain(parsed.sources.share!.sha256 as string);

    const refused = await f.kiln(["build", "--locked", "//pkg:cat"]);
    expect(refused.code, show(refused)).toBe(2);
    expect(refused.stderr).toContain("@share");
    expect(refused.stderr).toContain(`locked: path ${share} sha256 ${parsed.sources.share!.sha256 as string}`);
    expect(refused.stderr).toMatch(/now: +path .* sha256 [0-9a-f]{64}/);

    // Without --locked: a warning, the lock untouched, and the frozen snapshot is what is read.
    const warned = await f.build(["//pkg:cat"]);
    expect(warned.code, show(warned)).toBe(0);
    expect(warned.stderr).toContain("building from the snapshot kiln.lock pins");
    expect(f.read("kiln.lock")).toBe(text);
    expect(f.read("kiln-out/pkg/cat/o.txt")).toContain("alpha\nbeta\n");
    expect(warned.cached).toEqual(["//pkg:cat"]);

    // kiln lock takes the new content; the next build reads it.
    expect((await f.kiln(["lock"])).code).toBe(0);
    expect(f.read("kiln.lock")).not.toBe(text);
    const rebuilt = await f.build(["--locked", "//pkg:cat"]);
    expect(rebuilt.code, show(rebuilt)).toBe(0);
    expect(rebuilt.executed).toEqual(["//pkg:cat"]);
    expect(f.read("kiln-out/pkg/cat/o.txt")).toContain("alpha, edited\n");

    // A file added to the directory is seen by a plain (fast path) build too.
    writeFileSync(join(share, "sub", "c.txt"), "gamma\n");
    const added = await f.build(["//pkg:cat"]);
    expect(added.code, show(added)).toBe(0);
    expect(added.stderr).toContain("@share: changed since kiln.lock");
  });

  it("an unknown @name is an input error naming the declared sources", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": workspaceWith(`share: source.path("data")`),
      "data/x.txt": "x\n",
      "pkg/BUILD.ts": CAT_BUILD.replace("@share", "@shar"),
    });
    const run = await f.kiln(["build", "//pkg:cat"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`"@shar" is not a source declared in WORKSPACE.ts (it declares @share)`);
  });
});

describe("url sources", () => {
  let server: Server;
  let base: string;
  const body = "id,value\n1,10\n2,20\n";
  let failuresLeft = 0;
  let requests = 0;
  const ranges: string[] = [];
  let cutsLeft = 0;

  beforeAll(async () => {
    server = createServer((request, response) => {
      requests++;
      if (failuresLeft > 0) {
        failuresLeft--;
        response.writeHead(503).end("busy");
        return;
      }
      if (request.url === "/cut.csv") {
        const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
        if (range) {
          ranges.push(request.headers.range!);
          const from = Number(range[1]);
          response.writeHead(206, { "content-length": Buffer.byteLength(body) - from }).end(body.slice(from));
        } else if (cutsLeft > 0) {
          cutsLeft--;
          response.writeHead(200, { "content-length": Buffer.byteLength(body) });
          response.write(body.slice(0, 7), () => setTimeout(() => response.socket?.destroy(), 50));
        } else response.writeHead(200, { "content-length": Buffer.byteLength(body) }).end(body);
        return;
      }
      if (request.url === "/data/table.csv") response.writeHead(200, { "content-length": Buffer.byteLength(body) }).end(body);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const urlBuild = `import { cmd } from "kiln";
export const rows = cmd({ srcs: { t: "@table" }, outs: ["n.txt"], cmd: "wc -l < external/table/table.csv > $OUT/n.txt" });
`;

  it("is fetched once into the cache (retrying a 503), verified, and locked", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": workspaceWith(`table: source.url("${base}/data/table.csv", { sha256: "${sha256(body)}" })`),
      "pkg/BUILD.ts": urlBuild,
    });
    failuresLeft = 1;
    requests = 0;
    const run = await f.build(["//pkg:rows"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.stderr).toContain("HTTP 503; retrying");
    expect(requests).toBe(2);
    expect(f.read("kiln-out/pkg/rows/n.txt").trim()).toBe("3");

    const lock = await f.kiln(["lock"]);
    expect(lock.code, show(lock)).toBe(0);
    expect(JSON.parse(f.read("kiln.lock")).sources.table).toEqual({ kind: "url", location: `${base}/data/table.csv`, sha256: sha256(body), size: Buffer.byteLength(body) });
    // Fetched once: neither the lock nor a build from a clean kiln-out asks the server again.
    const again = await f.build(["--locked", "//pkg:rows"]);
    expect(again.code, show(again)).toBe(0);
    expect(requests).toBe(2);
  });

  it("a download that does not match its sha256 fails with both digests and is never used", async () => {
    const wrong = "0".repeat(64);
    const f = makeWorkspace({
      "WORKSPACE.ts": workspaceWith(`table: source.url("${base}/data/table.csv", { sha256: "${wrong}" })`),
      "pkg/BUILD.ts": urlBuild,
    });
    const run = await f.kiln(["build", "//pkg:rows"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`expected sha256 ${wrong}`);
    expect(run.stderr).toContain(`got      sha256 ${sha256(body)}`);
    const listing = await f.kiln(["build", "//pkg:rows"]);
    expect(listing.code).toBe(2); // nothing partial or wrong was kept as the blob
  });

  it("a download cut short is resumed with a Range request, then verified", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": workspaceWith(`table: source.url("${base}/cut.csv", { sha256: "${sha256(body)}" })`),
      "pkg/BUILD.ts": urlBuild.replace("table/table.csv", "table/cut.csv"),
    });
    cutsLeft = 1;
    const run = await f.build(["//pkg:rows"]);
    expect(run.code, show(run)).toBe(0);
    expect(run.stderr).toMatch(/connection closed|retrying/);
    expect(ranges).toEqual(["bytes=7-"]);
    expect(f.read("kiln-out/pkg/rows/n.txt").trim()).toBe("3");
  });

  it("a 404 fails naming the URL", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": workspaceWith(`table: source.url("${base}/nope.csv", { sha256: "${sha256(body)}" })`),
      "pkg/BUILD.ts": urlBuild,
    });
    const run = await f.kiln(["build", "//pkg:rows"]);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`could not download ${base}/nope.csv: HTTP 404`);
  });
});

describe("provenance", () => {
  it("walks a two-step build down to its source file and @source, validates, and --verify checks the files", async () => {
    const data = join(makeTempDir(), "table.csv");
    writeFileSync(data, "a,b\n1,2\n");
    const f = makeWorkspace({
      "WORKSPACE.ts": workspaceWith(`table: source.path(${JSON.stringify(data)})`),
      "pkg/BUILD.ts": `import { cmd, step } from "kiln";
export const copy = cmd({ srcs: { t: "@table", h: "header.txt" }, outs: ["c.csv"], cmd: "cat pkg/header.txt external/table/table.csv > $OUT/c.csv" });
export const count = step({ srcs: { c: ":copy" }, outs: ["n.json"], run: "./count.ts#count", params: { scale: 2 } });
`,
      "pkg/header.txt": "# header\n",
      "pkg/count.ts": `import { readFileSync, writeFileSync } from "node:fs";
export function count(ctx: { srcs: { c: string }; params: { scale: number }; out(n: string): string }) {
  writeFileSync(ctx.out("n.json"), JSON.stringify({ n: readFileSync(ctx.srcs.c, "utf8").split("\\n").length * ctx.params.scale }));
}
`,
    });
    const build = await f.build(["--provenance", "//pkg:count"]);
    expect(build.code, show(build)).toBe(0);
    const beside = JSON.parse(f.read("kiln-out/pkg/count.provenance.json")) as unknown;
    const run = await f.kiln(["provenance", "//pkg:count"]);
    expect(run.code, show(run)).toBe(0);
    const statement = statementSchema.parse(JSON.parse(run.stdout));
    expect(statement).toEqual(beside);
    expect(statement.subject).toEqual([{ name: "kiln-out/pkg/count/n.json", digest: { sha256: sha256(readFileSync(f.out("pkg", "count", "n.json"))) } }]);
    expect(statement.predicate.buildDefinition.externalParameters).toMatchObject({ target: "//pkg:count", params: { scale: 2 }, workspace: { name: "src", version: "1.2.3" } });
    const deps = statement.predicate.buildDefinition.resolvedDependencies;
    const byName = new Map(deps.map((d) => [d.name, d]));
    expect(byName.get("@table")?.digest).toEqual({ sha256: sha256("a,b\n1,2\n") });
    expect(byName.has("external/table/table.csv")).toBe(false); // the same bytes as @table: listed once
    expect(byName.get("pkg/BUILD.ts")).toMatchObject({ digest: { sha256: sha256(f.read("pkg/BUILD.ts")) }, annotations: { kind: "definition" } });
    expect(byName.get("pkg/header.txt")?.digest).toEqual({ sha256: sha256("# header\n") });
    expect(byName.get("pkg/count.ts")?.annotations).toMatchObject({ kind: "code", step: "//pkg:count" });
    // No intermediate output is a dependency, and no machine path leaks in.
    expect(deps.some((d) => d.name?.startsWith("kiln-out/"))).toBe(false);
    expect(JSON.stringify(statement)).not.toContain(f.ws);
    type Step = { label: string; cached: boolean | null };
    const stepsOf = (s: typeof statement) => (s.predicate.buildDefinition.internalParameters!.steps as Step[]).map((step) => [step.label, step.cached]);
    expect(stepsOf(statement)).toEqual([
      ["//pkg:count", false],
      ["//pkg:copy", false],
    ]);
    expect(statement.predicate.runDetails.builder.version).toMatchObject({ node: process.versions.node });

    // A cached rebuild says so.
    const cached = await f.kiln(["build", "--provenance", "//pkg:count"]);
    expect(cached.code, show(cached)).toBe(0);
    const again = statementSchema.parse(JSON.parse(f.read("kiln-out/pkg/count.provenance.json")));
    expect(stepsOf(again)).toEqual([
      ["//pkg:count", true],
      ["//pkg:copy", true],
    ]);
    expect(again.predicate.runDetails.metadata?.invocationId).not.toBe(statement.predicate.runDetails.metadata?.invocationId);

    const out = join(makeTempDir(), "statement.json");
    expect((await f.kiln(["provenance", "//pkg:count", "--out", out])).code).toBe(0);
    const ok = await f.kiln(["provenance", "--verify", out]);
    expect(ok.code, show(ok)).toBe(0);
    expect(ok.stdout).toContain("all 1 subjects match");
    const tampered = join(makeTempDir(), "ws");
    mkdirSync(join(tampered, "kiln-out/pkg/count"), { recursive: true });
    writeFileSync(join(tampered, "kiln-out/pkg/count/n.json"), '{"n":1}');
    const bad = await f.kiln(["provenance", "--verify", out, "--dir", tampered]);
    expect(bad.code, show(bad)).toBe(1);
    expect(bad.stdout).toContain("DIFFERENT kiln-out/pkg/count/n.json");
  });
});
