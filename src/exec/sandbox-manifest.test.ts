import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeManifest, encodeManifest, type Manifest } from "./sandbox-manifest.js";

// Paths as a sandbox has them: any characters but NUL, unique within each list.
const path = fc.string({ unit: "grapheme", minLength: 0, maxLength: 12 }).filter((p) => !p.includes("\0"));
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const manifest: fc.Arbitrary<Manifest> = fc.record({
  dirs: fc.uniqueArray(fc.tuple(path, fc.option(finite, { nil: undefined })), { selector: ([p]) => p, maxLength: 20 }).map((entries) => new Map(entries)),
  links: fc
    .uniqueArray(fc.tuple(path, fc.record({ ino: fc.maxSafeNat(), size: fc.maxSafeNat(), mtimeMs: finite })), { selector: ([p]) => p, maxLength: 20 })
    .map((entries) => new Map(entries)),
  spares: fc.array(path, { maxLength: 10 }),
});

describe("sandbox manifest", () => {
  it("decodes what it encoded: paths, order, mtimes (none stays none), inodes exact", () => {
    fc.assert(
      fc.property(manifest, (written) => {
        const read = decodeManifest(encodeManifest(written));
        expect([...read.dirs]).toEqual([...written.dirs]);
        expect([...read.links]).toEqual([...written.links]);
        expect(read.spares).toEqual(written.spares);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a truncated, extended or foreign file rather than trusting part of it", () => {
    const bytes = encodeManifest({
      dirs: new Map([["", undefined], ["a", 1_796_607_840_097.6687]]),
      links: new Map([["a/out.txt", { ino: 2 ** 40 + 3, size: 12, mtimeMs: 1.5 }]]),
      spares: ["a/in.txt"],
    });
    for (let cut = 0; cut < bytes.length; cut++) expect(() => decodeManifest(bytes.subarray(0, cut))).toThrow();
    expect(() => decodeManifest(Buffer.concat([bytes, Buffer.from("x")]))).toThrow();
    expect(() => decodeManifest(Buffer.from(JSON.stringify({ format: "kiln.sandbox/1", dirs: [], links: [], spares: [] })))).toThrow();
    // One NUL too many in the text: the counts no longer match the paths.
    const extraPath = Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from("\0x")]);
    extraPath.writeUInt32LE(bytes.readUInt32LE(20) + 1, 20);
    expect(() => decodeManifest(extraPath)).toThrow(/do not match/);
  });
});
