/**
 * restoreFromCache against a real local store (LMDB and blob files in a temp dir) when `kiln cache
 * gc` removes a hit's blob between the lookup that verified it and the materialize that links it:
 * the window a concurrent gc can hit. The cache below is the real one with that unlink made to
 * happen inside the window, deterministically.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LocalActionCache, type ActionCache } from "../cache/action-cache.js";
import { LocalStore } from "../cache/local-store.js";
import { computeKey, KEY_FORMAT, type KeyIngredients } from "../key/action-key.js";
import { digestBytes } from "../key/digest.js";
import type { PreparedAction } from "../key/action-inputs.js";
import { StatCache } from "../state/stat-cache.js";
import { restoreFromCache } from "./cache-steps.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("restoreFromCache beside gc", () => {
  it("a hit whose blob vanished before it was placed is a miss (the step runs), not a failed build", async () => {
    const base = mkdtempSync(join(tmpdir(), "kiln-cache-steps-"));
    dirs.push(base);
    const statCache = new StatCache();
    const store = await LocalStore.open(join(base, "cache"), statCache);
    const tempDir = join(base, "tmp");
    mkdirSync(tempDir);
    const real = new LocalActionCache(store, statCache, () => undefined, tempDir);
    const ingredients: KeyIngredients = { format: KEY_FORMAT, label: "//p:t", rule: "cmd", action: "cmd", code: "echo", params: null, inputs: [], outs: ["o"], env: [], tools: [], platform: "test" };
    const key = computeKey(ingredients);
    const file = join(base, "o");
    writeFileSync(file, "out\n");
    const digest = digestBytes("out\n");
    real.putBlob(file, digest);
    real.store(key, { outputs: [{ name: "o", digest, size: 4 }], ms: 1, createdAt: Date.now() }, ingredients);
    const prepared = { key, ingredients, named: new Map(), origins: { deps: [], sources: {} } } as PreparedAction;
    const outDir = join(base, "kiln-out", "p", "t");

    // gc's unlink lands between the lookup (blob verified) and materialize.
    const racing: ActionCache = Object.assign(Object.create(real) as ActionCache, {
      materialize(dir: string, outputs: Parameters<ActionCache["materialize"]>[1]) {
        rmSync(store.blobPath(digest));
        real.materialize(dir, outputs);
      },
    });
    await expect(restoreFromCache(racing, statCache, "//p:t", outDir, prepared, undefined)).resolves.toBeUndefined();
    await store.close();
  });
});
