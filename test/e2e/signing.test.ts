/**
 * Signed provenance: `kiln provenance --sign` and `kiln release --sign` wrap statements in DSSE
 * envelopes that securesystemslib (an implementation kiln did not write) verifies with the public
 * key, and that `kiln provenance --verify --key` checks; a tampered envelope or the wrong key is
 * refused by both. Keys are made here, in this file's temp dirs, with node:crypto.
 */
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeTempDir, makeWorkspace, show, type Fixture } from "./harness.js";
import { independentlyVerify, readStatementStrictly, VERIFIER_AVAILABLE } from "../provenance/independent-verifier.js";
import { statementSchema } from "../../src/lock/statement-schema.js";

afterAll(cleanupTempDirs);

interface KeyFiles {
  private: string;
  public: string;
}

function writeKeys(dir: string, name: string, type: "ed25519" | "ec"): KeyFiles {
  const pair = type === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const files = { private: join(dir, `${name}.pem`), public: join(dir, `${name}.pub.pem`) };
  writeFileSync(files.private, pair.privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(files.public, pair.publicKey.export({ type: "spki", format: "pem" }));
  return files;
}

/** The envelope with its statement's first subject digest changed and the payload re-encoded, signature kept. */
function tamper(envelopeFile: string, into: string): string {
  const envelope = JSON.parse(readFileSync(envelopeFile, "utf8")) as { payload: string };
  const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8"));
  statement.subject[0].digest.sha256 = "0".repeat(64);
  envelope.payload = Buffer.from(JSON.stringify(statement, null, 2)).toString("base64");
  writeFileSync(into, JSON.stringify(envelope));
  return into;
}

describe.runIf(VERIFIER_AVAILABLE)("signed provenance (DSSE), checked by securesystemslib", () => {
  let f: Fixture;
  let keys: string;
  let ed: KeyFiles;
  let p256: KeyFiles;
  beforeAll(async () => {
    keys = makeTempDir("kiln-e2e-keys-");
    ed = writeKeys(keys, "ed", "ed25519");
    p256 = writeKeys(keys, "p256", "ec");
    f = makeWorkspace({
      "WORKSPACE.ts": `import { source, workspace } from "kiln";\nexport default workspace({ name: "shop", version: "2.0.0", sources: { table: source.path("data/t.csv") } });\n`,
      "data/t.csv": "a\n1\n2\n",
      "m/BUILD.ts": `import { step } from "kiln";\nexport const model = step({ srcs: { t: "@table" }, outs: ["model.json"], run: "./train.ts#train" });\n`,
      "m/train.ts": `import { readFileSync, writeFileSync } from "node:fs";
export function train(ctx: { srcs: { t: string }; out(n: string): string }) {
  writeFileSync(ctx.out("model.json"), JSON.stringify({ w: readFileSync(ctx.srcs.t, "utf8").length }));
}
`,
    });
    expect((await f.kiln(["lock"])).code).toBe(0);
    const build = await f.kiln(["build", "//m:model"]);
    expect(build.code, show(build)).toBe(0);
  });

  for (const which of ["ed25519", "ecdsa-p256"] as const) {
    it(`a statement signed with ${which} verifies with securesystemslib and kiln; tampered or wrong key, both refuse`, async () => {
      const key = which === "ed25519" ? ed : p256;
      const other = which === "ed25519" ? p256 : ed;
      const envelope = join(keys, `${which}.dsse.json`);
      const signed = await f.kiln(["provenance", "//m:model", "--sign", key.private, "--out", envelope]);
      expect(signed.code, show(signed)).toBe(0);
      const parsed = JSON.parse(readFileSync(envelope, "utf8"));
      expect(parsed.payloadType).toBe("application/vnd.in-toto+json");
      expect(parsed.signatures).toHaveLength(1);
      statementSchema.parse(JSON.parse(Buffer.from(parsed.payload, "base64").toString("utf8")));
      const payloadFile = join(keys, `${which}.payload.json`);
      writeFileSync(payloadFile, Buffer.from(parsed.payload, "base64"));
      expect(readStatementStrictly(payloadFile)).toMatchObject({ status: 0 });

      expect(independentlyVerify(envelope, key.public)).toEqual({ status: 0, output: "verified application/vnd.in-toto+json https://in-toto.io/Statement/v1" });
      const ok = await f.kiln(["provenance", "--verify", envelope, "--key", key.public]);
      expect(ok.code, show(ok)).toBe(0);
      expect(ok.stdout).toContain(`signed    the signature verifies with ${key.public}`);
      expect(ok.stdout).toContain("all 1 subjects match");

      const tampered = tamper(envelope, join(keys, `${which}.tampered.json`));
      expect(independentlyVerify(tampered, key.public).status).toBe(1);
      const refused = await f.kiln(["provenance", "--verify", tampered, "--key", key.public]);
      expect(refused.code, show(refused)).toBe(1);
      expect(refused.stdout).toMatch(/^REFUSED {3}the signature of .* is refused: none of its 1 signature verifies with key [0-9a-f]{16}/);
      expect(refused.stdout).not.toContain("subjects match");

      expect(independentlyVerify(envelope, other.public).status).toBe(1);
      const wrongKey = await f.kiln(["provenance", "--verify", envelope, "--key", other.public]);
      expect(wrongKey.code, show(wrongKey)).toBe(1);
    });
  }

  it("a signed release: the archive is a subject of its own signed statement, verified by both; a changed archive is refused", async () => {
    const made = await f.kiln(["release", "//m:model", "--version", "1.0.0", "--sign", ed.private]);
    expect(made.code, show(made)).toBe(0);
    const dist = join(f.ws, "dist");
    const archiveEnvelope = join(dist, "shop-model-1.0.0.tar.gz.provenance.dsse.json");
    expect(made.stdout).toContain("provenance of the archive: dist/shop-model-1.0.0.tar.gz.provenance.dsse.json (signed)");
    expect(independentlyVerify(archiveEnvelope, ed.public).status).toBe(0);
    expect(independentlyVerify(join(dist, "shop-model-1.0.0", "provenance.dsse.json"), ed.public).status).toBe(0);
    const plain = statementSchema.parse(JSON.parse(readFileSync(join(dist, "shop-model-1.0.0.tar.gz.provenance.json"), "utf8")));
    expect(plain.subject).toEqual([{ name: "shop-model-1.0.0.tar.gz", digest: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } }]);

    const ok = await f.kiln(["provenance", "--verify", archiveEnvelope, "--key", ed.public]);
    expect(ok.code, show(ok)).toBe(0);
    expect(ok.stdout).toMatch(/^ok {8}shop-model-1\.0\.0\.tar\.gz sha256 [0-9a-f]{64}$/m);
    // The outputs' statement inside the release is signed too, and checks the files beside it.
    const inner = await f.kiln(["provenance", "--verify", join(dist, "shop-model-1.0.0", "provenance.dsse.json"), "--key", ed.public]);
    expect(inner.code, show(inner)).toBe(0);

    writeFileSync(join(dist, "shop-model-1.0.0.tar.gz"), "not the release");
    const changed = await f.kiln(["provenance", "--verify", archiveEnvelope, "--key", ed.public]);
    expect(changed.code, show(changed)).toBe(1);
    expect(changed.stdout).toContain("DIFFERENT shop-model-1.0.0.tar.gz");
  });

  it("bad key input is a clear error (exit 2): an RSA key, a missing file, an envelope without --key", async () => {
    const rsa = join(keys, "rsa.pem");
    writeFileSync(rsa, generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }));
    const wrongType = await f.kiln(["provenance", "//m:model", "--sign", rsa]);
    expect(wrongType.code, show(wrongType)).toBe(2);
    expect(wrongType.stderr).toContain("is an rsa key; kiln signs with Ed25519 or ECDSA P-256");
    const missing = await f.kiln(["provenance", "//m:model", "--sign", join(keys, "nope.pem")]);
    expect(missing.code, show(missing)).toBe(2);
    expect(missing.stderr).toContain("cannot read the key");
    const envelope = join(keys, "ed25519.dsse.json");
    const noKey = await f.kiln(["provenance", "--verify", envelope]);
    expect(noKey.code, show(noKey)).toBe(2);
    expect(noKey.stderr).toContain("is a signed DSSE envelope: pass --key public.pem");
    for (const run of [wrongType, missing, noKey]) expect(run.stderr).not.toMatch(/^\s+at /m);
  });
});
