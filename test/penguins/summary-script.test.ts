// features/summary.py, run as the `//features:summary` cmd runs it, on a small table.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const script = fileURLToPath(new URL("../../examples/penguins/features/summary.py", import.meta.url));
const hasPython = spawnSync("python3", ["--version"]).status === 0;
const dir = mkdtempSync(join(tmpdir(), "penguins-summary-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rows = [
  { id: 1, Species: "Adelie", Island: "Dream", "Body Mass (g)": 3000, Sex: "MALE" },
  { id: 2, Species: "Adelie", Island: "Biscoe", "Body Mass (g)": 4000, Sex: null },
  { id: 3, Species: "Adelie", Island: "Dream", "Body Mass (g)": null, Sex: "." },
  { id: 4, Species: "Gentoo", Island: "Biscoe", "Body Mass (g)": 5000, Sex: "FEMALE" },
];

describe.skipIf(!hasPython)("summary.py", () => {
  it("summarises each species with sorted keys", () => {
    const input = join(dir, "rows.jsonl");
    writeFileSync(input, rows.map((row) => JSON.stringify(row)).join("\n") + "\n");
    const run = spawnSync("python3", [script, input], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const expected = {
      count: 4,
      measurements: ["Body Mass (g)"],
      species: {
        Adelie: {
          count: 3,
          islands: { Biscoe: 1, Dream: 2 },
          measurements: { "Body Mass (g)": { count: 2, max: 4000, mean: 3500, min: 3000, missing: 1, std: 707.1068 } },
          sex: { MALE: 1, unknown: 2 },
        },
        Gentoo: {
          count: 1,
          islands: { Biscoe: 1 },
          measurements: { "Body Mass (g)": { count: 1, max: 5000, mean: 5000, min: 5000, missing: 0, std: 0 } },
          sex: { FEMALE: 1 },
        },
      },
    };
    expect(JSON.parse(run.stdout)).toEqual(expected);
    // sort_keys: every object's keys in order, so the same rows give the same bytes.
    expect(run.stdout.indexOf('"islands"')).toBeLessThan(run.stdout.indexOf('"measurements": {'));
    expect(run.stdout.indexOf('"count": 4')).toBeLessThan(run.stdout.indexOf('"species"'));
    expect(run.stdout.endsWith("}\n")).toBe(true);
  });

  it("prints usage and exits 2 without an input", () => {
    const run = spawnSync("python3", [script], { encoding: "utf8" });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe("usage: summary.py ROWS_JSONL\n");
  });
});
