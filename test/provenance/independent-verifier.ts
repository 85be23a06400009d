/**
 * Whether securesystemslib (test/requirements.txt), the DSSE verifier the signing tests check
 * kiln's envelopes with, can be run here. `.ci/run` installs it; in CI (CI=true) its absence
 * fails the tests that need it; on a developer's stock machine they are skipped, saying why.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO } from "../e2e/harness.js";

export const DSSE_VERIFY = join(REPO, "test/provenance/dsse_verify.py");

function probe(): string | undefined {
  const run = spawnSync("python3", [DSSE_VERIFY, "check"], { encoding: "utf8" });
  if (run.status === 0) return undefined;
  return run.error?.message ?? (run.stderr.trim().split("\n").at(-1) || `exit ${run.status}`);
}

const missing = probe();
if (missing && process.env.CI !== "true") {
  process.stderr.write(`skipping the securesystemslib DSSE checks: ${missing} (python3 -m pip install -r test/requirements.txt)\n`);
}

/** True where the verifier runs, and in CI (where its absence must fail, not skip). */
export const VERIFIER_AVAILABLE = missing === undefined || process.env.CI === "true";

/** Runs the independent verifier on an envelope: exit status and its one line. */
export function independentlyVerify(envelope: string, publicKey: string): { status: number | null; output: string } {
  const run = spawnSync("python3", [DSSE_VERIFY, "verify", envelope, publicKey], { encoding: "utf8" });
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}
