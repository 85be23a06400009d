import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkUpToDateStamp, directoryStamp, LISTING_PREFIX, writeUpToDateStamp } from "../state/up-to-date-stamp.js";
import { discoverPackages, discoveryStillValid } from "./discover.js";

const base = mkdtempSync(join(tmpdir(), "kiln-discover-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A workspace with packages "" and "a", and the root's mtime set in the past. */
function tree(name: string): string {
  const root = join(base, name);
  mkdirSync(join(root, "a"), { recursive: true });
  writeFileSync(join(root, "BUILD.ts"), "");
  writeFileSync(join(root, "a", "BUILD.ts"), "");
  const past = new Date(Date.now() - 60_000);
  utimesSync(root, past, past);
  return root;
}

describe("discovery stamps", () => {
  it("stay valid when only kiln-out/ or .kiln/ appear, not when a file or directory does", () => {
    const root = tree("kiln-dirs");
    const { packages, stamps } = discoverPackages(root);
    expect(packages).toEqual(["", "a"]);
    mkdirSync(join(root, "kiln-out"));
    mkdirSync(join(root, ".kiln"));
    expect(discoveryStillValid(root, stamps)).toBe(true);
    writeFileSync(join(root, "new.txt"), "");
    expect(discoveryStillValid(root, stamps)).toBe(false);
    rmSync(join(root, "new.txt"));
    mkdirSync(join(root, "b"));
    expect(discoveryStillValid(root, stamps)).toBe(false);
  });

  it("a file replaced by a directory of the same name is a change", () => {
    const root = tree("replaced");
    writeFileSync(join(root, "a", "x"), "");
    const { stamps } = discoverPackages(root);
    rmSync(join(root, "a", "x"));
    mkdirSync(join(root, "a", "x"));
    expect(discoveryStillValid(root, stamps)).toBe(false);
  });

  it("the up-to-date stamp forgives a directory whose entries did not change", () => {
    const root = tree("stamp");
    const { stamps } = discoverPackages(root);
    const file = join(base, "stamp.json");
    const files = new Map(stamps.map((s) => [join(root, s.dir), { stamp: directoryStamp(s.mtimeMs), digest: `${LISTING_PREFIX}${s.listing}` }]));
    const record = { steps: [{ label: "//:x", key: "k" }], requestedOutputs: [] };
    writeUpToDateStamp(file, "v", "req", {}, files, record);
    mkdirSync(join(root, "kiln-out"));
    expect(checkUpToDateStamp(file, "v", "req", {}).upToDate).toEqual(record);
    writeFileSync(join(root, "a", "new.txt"), "");
    expect(checkUpToDateStamp(file, "v", "req", {}).upToDate).toBeUndefined();
  });
});
