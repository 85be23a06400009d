/** `kiln release`: what a release holds, byte-identical archives, never overwritten, list, diff, why --since. */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { statementSchema } from "../../src/lock/statement-schema.js";
import { cleanupTempDirs, makeTempDir, makeWorkspace, show } from "./harness.js";

afterAll(cleanupTempDirs);

const BUILD = (scale: number) => `import { step } from "kiln";
export const model = step({ srcs: { t: "@table" }, outs: ["model.json"], run: "./train.ts#train", params: { scale: ${scale} } });
`;

describe("kiln release", () => {
  it("holds outputs, provenance, kiln.lock and a manifest; repeats byte for byte; never overwrites; lists and diffs", async () => {
    const f = makeWorkspace({
      "WORKSPACE.ts": `import { source, workspace } from "kiln";\nexport default workspace({ name: "shop", version: "2.0.0", sources: { table: source.path("data/t.csv") } });\n`,
      "data/t.csv": "a\n1\n2\n",
      "m/BUILD.ts": BUILD(2),
      "m/train.ts": `import { readFileSync, writeFileSync } from "node:fs";
export function train(ctx: { srcs: { t: string }; params: { scale: number }; out(n: string): string }) {
  writeFileSync(ctx.out("model.json"), JSON.stringify({ w: readFileSync(ctx.srcs.t, "utf8").length * ctx.params.scale }));
}
`,
    });
    expect((await f.kiln(["lock"])).code).toBe(0);
    const made = await f.kiln(["release", "//m:model", "--version", "1.0.0"]);
    expect(made.code, show(made)).toBe(0);
    const dir = join(f.ws, "dist", "shop-model-1.0.0");
    expect(readdirSync(dir).sort()).toEqual(["kiln-out", "kiln.lock", "provenance.json", "release.json"]);
    const manifest = JSON.parse(readFileSync(join(dir, "release.json"), "utf8"));
    const model = readFileSync(f.out("m", "model", "model.json"));
    expect(manifest).toMatchObject({ format: "kiln.release/1", name: "shop-model-1.0.0", version: "1.0.0", label: "//m:model", workspace: { name: "shop", version: "2.0.0" } });
    expect(manifest.outputs).toEqual([{ path: "kiln-out/m/model/model.json", sha256: expect.stringMatching(/^[0-9a-f]{64}$/), size: model.length }]);
    expect(readFileSync(join(dir, "kiln-out/m/model/model.json"))).toEqual(model);
    expect(readFileSync(join(dir, "kiln.lock"), "utf8")).toBe(f.read("kiln.lock"));
    const statement = statementSchema.parse(JSON.parse(readFileSync(join(dir, "provenance.json"), "utf8")));
    expect(statement.subject[0]!.digest.sha256).toBe(manifest.outputs[0].sha256);
    expect(statement.predicate.buildDefinition.resolvedDependencies.some((d) => d.name === "@table")).toBe(true);
    const tar = gunzipSync(readFileSync(`${dir}.tar.gz`)).toString("latin1");
    for (const name of ["shop-model-1.0.0/release.json", "shop-model-1.0.0/provenance.json", "shop-model-1.0.0/kiln.lock", "shop-model-1.0.0/kiln-out/m/model/model.json"]) {
      expect(tar).toContain(name);
    }

    // The same release made again elsewhere (after another build) is the same bytes.
    expect((await f.kiln(["build", "--no-cache", "//m:model"])).code).toBe(0);
    const other = makeTempDir();
    expect((await f.kiln(["release", "//m:model", "--version", "1.0.0", "--out", other])).code).toBe(0);
    expect(readFileSync(join(other, "shop-model-1.0.0.tar.gz"))).toEqual(readFileSync(`${dir}.tar.gz`));

    // Never overwritten.
    const again = await f.kiln(["release", "//m:model", "--version", "1.0.0"]);
    expect(again.code, show(again)).toBe(2);
    expect(again.stderr).toContain("release shop-model-1.0.0 already exists");
    expect(readFileSync(join(dir, "release.json"), "utf8")).toBe(`${JSON.stringify(manifest, null, 2)}\n`);

    // A param change: a new release, the list, the diff, and why --since.
    f.write({ "m/BUILD.ts": BUILD(3) });
    expect((await f.kiln(["release", "//m:model", "--version", "1.1.0"])).code).toBe(0);
    const list = await f.kiln(["release", "--list"]);
    expect(list.stdout).toMatch(/^shop-model-1\.0\.0 {2}\/\/m:model {2}version 1\.0\.0/m);
    expect(list.stdout).toMatch(/^shop-model-1\.1\.0 {2}\/\/m:model {2}version 1\.1\.0/m);
    const diff = await f.kiln(["release", "--diff", "1.0.0", "1.1.0"]);
    expect(diff.code, show(diff)).toBe(0);
    expect(diff.stdout).toContain("//m:model params.scale: 2 -> 3");
    expect(diff.stdout).toContain("output changed: kiln-out/m/model/model.json");
    expect(diff.stdout).toContain("definition changed: m/BUILD.ts");
    expect(diff.stdout).not.toContain("input changed");

    f.write({ "data/t.csv": "a\n1\n2\n3\n" });
    expect((await f.kiln(["lock"])).code).toBe(0);
    expect((await f.kiln(["build", "//m:model"])).code).toBe(0);
    const why = await f.kiln(["why", "//m:model", "--since", "1.0.0"]);
    expect(why.code, show(why)).toBe(0);
    expect(why.stdout).toContain("params.scale: 2 -> 3");
    expect(why.stdout).toContain("input changed: @table");
    // kiln.lock pinned the new table: a material too. The table's file in the sandbox is not listed twice.
    expect(why.stdout).toContain("definition changed: kiln.lock");
    expect(why.stdout).not.toContain("external/table/t.csv");
  });
});
