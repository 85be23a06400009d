#!/usr/bin/env node
// `npm test`: vitest, then one plain closing line ("N passed, N failed") that any CI log reader
// understands, with vitest's exit code.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "kiln-test-report-"));
const report = join(dir, "vitest.json");
const run = spawnSync(
  "npx",
  ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);
let code = run.status ?? 1;
try {
  const results = JSON.parse(readFileSync(report, "utf8"));
  const skipped = results.numPendingTests + results.numTodoTests;
  console.log(`\ntests: ${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ""}`);
  if (results.numTotalTests === 0) code = 1;
} catch {
  console.log("\ntests: the vitest report is missing; see the output above");
  code = code || 1;
}
rmSync(dir, { recursive: true, force: true });
process.exit(code);
