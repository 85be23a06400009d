import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lastBatch, statPaths } from "./stat-batch.js";
import { statPath, statPathMethod } from "./stat-path.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-stat-batch-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Files of many sizes, directories, links (good and dangling), odd names, and paths that do not exist. */
function fixture(): string[] {
  const paths: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const sub = join(dir, `d${i % 37}`);
    mkdirSync(sub, { recursive: true });
    const name = i % 5 === 0 ? `é ü ${i}.txt` : `f${i}`;
    const file = join(sub, name);
    writeFileSync(file, "x".repeat(i % 300));
    paths.push(file, join(sub, `missing-${i}`));
    if (i % 97 === 0) {
      symlinkSync(file, join(sub, `link-${i}`));
      symlinkSync(join(sub, "nowhere"), join(sub, `dangling-${i}`));
      paths.push(join(sub, `link-${i}`), join(sub, `dangling-${i}`), sub);
    }
  }
  return paths;
}

describe("statPaths", () => {
  it("gives exactly statPath's results in order, whichever thread stat'ed a path", async () => {
    const paths = fixture();
    process.env.KILN_STAT_BATCH_FROM = "100";
    try {
      expect(statPaths(paths)).toEqual(paths.map((path) => statPath(path)));
      let workerTookPart = false;
      for (let attempt = 0; attempt < 20 && !workerTookPart && statPathMethod === "binding"; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50)); // the worker starts
        expect(statPaths(paths)).toEqual(paths.map((path) => statPath(path)));
        workerTookPart = lastBatch.byWorker > 0;
      }
      if (statPathMethod === "binding") expect(workerTookPart).toBe(true);
    } finally {
      delete process.env.KILN_STAT_BATCH_FROM;
    }
  });

  it("stats a short list on this thread", () => {
    const paths = [dir, join(dir, "none")];
    lastBatch.chunks = -1;
    expect(statPaths(paths)).toEqual(paths.map((path) => statPath(path)));
    expect(lastBatch.chunks).toBe(-1);
  });
});
