import { describe, expect, it } from "vitest";
import { planGc, type BlobEntry, type GcRequest, type ResultEntry } from "./gc-plan.js";

const DAY = 86_400_000;
const NOW = 100 * DAY;
const blob = (digest: string, size: number, daysAgo: number, linkedElsewhere = false): BlobEntry => ({ digest, size, lastTouched: NOW - daysAgo * DAY, linkedElsewhere });
const result = (key: string, daysAgo: number, blobs: string[]): ResultEntry => ({ key, lastUsed: NOW - daysAgo * DAY, blobs });
const request = (over: Partial<GcRequest>): GcRequest => ({
  results: [],
  blobs: [],
  pinnedKeys: new Set(),
  pinnedBlobs: new Set(),
  fixedBytes: 0,
  now: NOW,
  graceMs: 60_000,
  ...over,
});

describe("planGc", () => {
  const blobs = [blob("a", 100, 50), blob("b", 100, 40), blob("c", 100, 30), blob("shared", 100, 60)];
  const results = [result("old", 50, ["a", "shared"]), result("mid", 40, ["b", "shared"]), result("new", 30, ["c"])];

  it("removes least recently used results first, and only blobs no kept result refers to", () => {
    const plan = planGc(request({ results, blobs, maxBytes: 300 }));
    expect(plan.removeKeys).toEqual(["old"]);
    // "shared" is still referred to by "mid".
    expect(plan.removeBlobs).toEqual(["a"]);
    expect(plan.bytesBefore).toBe(400);
    expect(plan.bytesAfter).toBe(300);
  });

  it("frees a shared blob once its last referrer goes", () => {
    const plan = planGc(request({ results, blobs, maxBytes: 150 }));
    expect(plan.removeKeys).toEqual(["old", "mid"]);
    expect(plan.removeBlobs.sort()).toEqual(["a", "b", "shared"]);
    expect(plan.bytesAfter).toBe(100);
  });

  it("keeps what a release pins, by key and by blob", () => {
    const plan = planGc(request({ results, blobs, maxBytes: 0, pinnedKeys: new Set(["mid"]) }));
    expect(plan.removeKeys.sort()).toEqual(["new", "old"]);
    expect(plan.removeBlobs.sort()).toEqual(["a", "c"]);
    expect(plan.pinnedKept).toBe(1);
    const byBlob = planGc(request({ blobs: [blob("loose", 10, 90)], maxBytes: 0, pinnedBlobs: new Set(["loose"]) }));
    expect(byBlob.removeBlobs).toEqual([]);
  });

  it("never removes what was used or written within the grace period", () => {
    const fresh = [result("now", 0, ["x"])];
    const plan = planGc(request({ results: fresh, blobs: [blob("x", 100, 0), blob("loose", 100, 0)], maxBytes: 0 }));
    expect(plan.removeKeys).toEqual([]);
    expect(plan.removeBlobs).toEqual([]);
  });

  it("removes loose blobs (no result refers to them) by their last touch, interleaved with results", () => {
    const plan = planGc(request({ results, blobs: [...blobs, blob("loose", 100, 45)], maxBytes: 300 }));
    expect(plan.removeKeys).toEqual(["old"]);
    expect(plan.removeBlobs).toEqual(["a", "loose"]);
  });

  it("--older-than removes everything last used before the cutoff, whatever the size", () => {
    const plan = planGc(request({ results, blobs, olderThanMs: 35 * DAY }));
    expect(plan.removeKeys).toEqual(["old", "mid"]);
    expect(plan.bytesAfter).toBe(100);
  });

  it("does not remove a result to make room when its blobs are all linked elsewhere (it would free nothing)", () => {
    const linked = [blob("a", 100, 50, true), blob("c", 100, 30)];
    const plan = planGc(request({ results: [result("inKilnOut", 50, ["a"]), result("new", 30, ["c"])], blobs: linked, maxBytes: 50 }));
    expect(plan.removeKeys).toEqual(["new"]);
    expect(plan.bytesBefore).toBe(100);
    expect(plan.bytesAfter).toBe(0);
  });

  it("stops as soon as the size is under the cap", () => {
    const plan = planGc(request({ results, blobs, maxBytes: 10_000 }));
    expect(plan.removeKeys).toEqual([]);
    expect(plan.removeBlobs).toEqual([]);
  });
});
