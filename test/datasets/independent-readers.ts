/**
 * Whether pyarrow and DuckDB (test/requirements.txt) can be run here. `.ci/run` installs them,
 * and in CI (CI=true) a missing one fails the tests that need it; on a developer's stock machine
 * those tests are skipped, saying why and how to get them.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO } from "../e2e/harness.js";

export const PARQUET_TOOL = join(REPO, "test/datasets/parquet_tool.py");

function probe(): string | undefined {
  const run = spawnSync("python3", [PARQUET_TOOL, "check"], { encoding: "utf8" });
  if (run.status === 0) return undefined;
  return run.error?.message ?? (run.stderr.trim().split("\n").at(-1) || `exit ${run.status}`);
}

const missing = probe();
if (missing && process.env.CI !== "true") {
  process.stderr.write(`skipping the pyarrow/DuckDB reader tests: ${missing} (python3 -m pip install -r test/requirements.txt)\n`);
}

/** True where the readers run, and in CI (where their absence must fail, not skip). */
export const READERS_AVAILABLE = missing === undefined || process.env.CI === "true";
