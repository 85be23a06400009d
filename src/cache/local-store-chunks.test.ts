/**
 * An aggregator's ingredients and origins in the real LMDB index: stored as shared chunks, read
 * back whole, one rebuild adding only the chunks that changed, and gc removing the chunks no
 * record names any more.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KEY_FORMAT, type KeyIngredients } from "../key/action-key.js";
import { StatCache } from "../state/stat-cache.js";
import { INDEX_FILE } from "./index-health.js";
import { LocalStore, type ActionOrigins, type ActionResult } from "./local-store.js";

const N = 20_000;
const hex = (i: number) => i.toString(16).padStart(64, "0");
const ingredientsOf = (edited: number | undefined): KeyIngredients => ({
  format: KEY_FORMAT,
  label: "//agg:agg",
  rule: "cmd",
  action: "cmd",
  code: "xargs cat < $SRCS_FILE | sha256sum > $OUT/out.txt",
  params: null,
  inputs: Array.from({ length: N }, (_, i) => [`kiln-out/p${i % 100}/s${i}/out.txt`, i === edited ? hex(N + i) : hex(i)]),
  outs: ["out.txt"],
  env: [],
  tools: [],
  platform: "linux-x64-node20",
});
const originsOf = (edited: number | undefined): ActionOrigins => ({
  deps: Array.from({ length: N }, (_, i) => [`//p${i % 100}:s${i}`, i === edited ? hex(2 * N + i) : hex(3 * N + i)]),
  sources: {},
});
const result: ActionResult = { outputs: [{ name: "out.txt", digest: hex(1) as never, size: 66 }], ms: 5, createdAt: 1 };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-chunks-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The index's records under `prefix`, read with lmdb itself after the store closed. */
function countRecords(prefix: string): number {
  const { open } = createRequire(import.meta.url)("lmdb") as typeof import("lmdb");
  const db = open({ path: join(dir, INDEX_FILE), compression: false, readOnly: true });
  try {
    return [...db.getKeys({ start: prefix, end: `${prefix.slice(0, -1)}0` })].length;
  } finally {
    void db.close();
  }
}

async function withStore<T>(use: (store: LocalStore) => T | Promise<T>): Promise<T> {
  const store = await LocalStore.open(dir, new StatCache());
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

describe("ingredients and origins of a large fan-in", () => {
  it("are stored as chunks, read back whole, and a one-input rebuild adds one chunk per list", async () => {
    await withStore((store) => store.putAction("k1", result, ingredientsOf(undefined), originsOf(undefined)));
    const first = countRecords("ch/");
    expect(first).toBeGreaterThan(10); // ~20 per list of 20,000
    await withStore((store) => {
      expect(store.getIngredients("k1")).toEqual(ingredientsOf(undefined));
      expect(store.getOrigins("k1")).toEqual(originsOf(undefined));
    });

    await withStore((store) => store.putAction("k2", result, ingredientsOf(12_345), originsOf(12_345)));
    expect(countRecords("ch/")).toBe(first + 2);
    await withStore((store) => {
      expect(store.getIngredients("k2")).toEqual(ingredientsOf(12_345));
      expect(store.getOrigins("k2")).toEqual(originsOf(12_345));
      expect(store.getIngredients("k1")).toEqual(ingredientsOf(undefined));
    });
  });

  it("gc keeps the chunks a remaining record names and removes the rest", async () => {
    await withStore((store) => {
      store.putAction("k1", result, ingredientsOf(undefined), originsOf(undefined));
      store.putAction("k2", result, ingredientsOf(7), originsOf(7));
    });
    const both = countRecords("ch/");
    await withStore((store) => store.removeActions(["k1"]));
    expect(countRecords("ch/")).toBe(both - 2);
    await withStore((store) => {
      expect(store.getIngredients("k1")).toBeUndefined();
      expect(store.getIngredients("k2")).toEqual(ingredientsOf(7));
      expect(store.getOrigins("k2")).toEqual(originsOf(7));
    });
    await withStore((store) => store.removeActions(["k2"]));
    expect(countRecords("ch/")).toBe(0);
  });

  it("a short list stays inline, as records were before chunks", async () => {
    const small = { ...ingredientsOf(undefined), inputs: ingredientsOf(undefined).inputs.slice(0, 100) };
    await withStore((store) => store.putAction("k3", result, small, { deps: [], sources: {} }));
    expect(countRecords("ch/")).toBe(0);
    await withStore((store) => expect(store.getIngredients("k3")).toEqual(small));
  });
});
