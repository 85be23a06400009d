import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { digestBytes } from "../key/digest.js";
import { recordIdentity } from "../key/file-identity.js";
import { checkUpToDateStamp, KeptStamp, stampFile, writeUpToDateStamp, type RecordedFile } from "./up-to-date-stamp.js";

describe("stampFile", () => {
  it("names a request's stamp by a stable 14-digit hash, different for different requests", () => {
    const request = JSON.stringify({ root: "/ws", mode: "build", patterns: ['{"kind":"recursive","pkg":""}'] });
    const name = basename(stampFile("/ws/.kiln", request));
    expect(name).toMatch(/^[0-9a-f]{14}\.stamp$/);
    expect(basename(stampFile("/ws/.kiln", request))).toBe(name);
    const names = new Set<string>();
    for (let i = 0; i < 2000; i++) names.add(basename(stampFile("/ws/.kiln", `${request}${i}`)));
    names.add(name);
    expect(names.size).toBe(2001);
  });
});

describe("KeptStamp", () => {
  const setUp = () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-kept-stamp-"));
    const sources = ["a.txt", "b.txt", "c.txt"].map((name) => join(dir, name));
    sources.forEach((path, i) => writeFileSync(path, `content ${i}\n`));
    // Stats recorded as the kiln owns them (ctime not compared): no racy records to forgive.
    const record = (path: string): RecordedFile => ({ stamp: recordIdentity(statSync(path), "kiln", 0), digest: digestBytes(readFileSync(path)) });
    const file = join(dir, "stamp");
    const steps = [{ label: "//:a", key: "1".repeat(64) }];
    writeUpToDateStamp(file, "v", "req", {}, new Map(sources.map((path) => [path, record(path)])), { steps, requestedOutputs: [] });
    return { dir, sources, record, file };
  };

  it("hands a check the stamp its caller's last rewrite patched, and what a fresh read of the file would give", () => {
    const { dir, sources, record, file } = setUp();
    try {
      const kept = new KeptStamp();
      writeFileSync(sources[1]!, "edited 1\n");
      const first = checkUpToDateStamp(file, "v", "req", {}, { changesWhenUpToDate: true, kept }).changes!;
      expect([...first.changed]).toEqual([sources[1]]);
      const rebuilt = [{ label: "//:a", key: "2".repeat(64) }];
      first.rewrite(new Set(first.changed), record, rebuilt);
      // Kept: the next check takes it, and finds what reading the file finds.
      writeFileSync(sources[2]!, "edited 2\n");
      const fresh = checkUpToDateStamp(file, "v", "req", {}, { changesWhenUpToDate: true }).changes!;
      const fromKept = checkUpToDateStamp(file, "v", "req", {}, { changesWhenUpToDate: true, kept }).changes!;
      expect([...fromKept.changed]).toEqual([sources[2]]);
      expect([...fromKept.changed]).toEqual([...fresh.changed]);
      expect(fromKept.steps).toEqual(rebuilt);
      expect(fresh.steps).toEqual(rebuilt);
      // The second check patched nothing yet: a rewrite keeps it again, for one take.
      fromKept.rewrite(new Set(fromKept.changed), record, rebuilt);
      expect(kept.take(file)?.steps).toEqual(rebuilt);
      // Taken once: with no rewrite since, the next check reads the file (and finds the same).
      expect(kept.take(file)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("is not used once the file is not the one its caller wrote", () => {
    const { dir, sources, record, file } = setUp();
    try {
      const kept = new KeptStamp();
      writeFileSync(sources[0]!, "edited 0\n");
      const first = checkUpToDateStamp(file, "v", "req", {}, { changesWhenUpToDate: true, kept }).changes!;
      first.rewrite(new Set(first.changed), record, [{ label: "//:a", key: "2".repeat(64) }]);
      // Another kiln records the request anew: its steps are what the next check must see.
      const other = [{ label: "//:a", key: "3".repeat(64) }];
      writeUpToDateStamp(file, "v", "req", {}, new Map(sources.map((path) => [path, record(path)])), { steps: other, requestedOutputs: [] });
      const check = checkUpToDateStamp(file, "v", "req", {}, { changesWhenUpToDate: true, kept });
      expect(check.changes!.steps).toEqual(other);
      expect(check.changes!.changed.size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
