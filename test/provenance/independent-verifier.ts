/**
 * Whether the independent checkers of kiln's provenance (test/requirements.txt) can be run here:
 * securesystemslib, the DSSE verifier the signing tests check envelopes with, and the in-toto
 * attestation framework's protobuf bindings, which read statements strictly. `.ci/run` installs
 * them; in CI (CI=true) their absence fails the tests that need them; on a developer's stock
 * machine those tests are skipped, saying why.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO } from "../e2e/harness.js";

export const DSSE_VERIFY = join(REPO, "test/provenance/dsse_verify.py");
export const STATEMENT_READER = join(REPO, "test/provenance/statement_reader.py");

function probe(): string | undefined {
  for (const script of [DSSE_VERIFY, STATEMENT_READER]) {
    const run = spawnSync("python3", [script, "check"], { encoding: "utf8" });
    if (run.status !== 0) return run.error?.message ?? (run.stderr.trim().split("\n").at(-1) || `exit ${run.status}`);
  }
  return undefined;
}

const missing = probe();
if (missing && process.env.CI !== "true") {
  process.stderr.write(`skipping the securesystemslib and in-toto-attestation checks: ${missing} (python3 -m pip install -r test/requirements.txt)\n`);
}

/** True where the verifier runs, and in CI (where its absence must fail, not skip). */
export const VERIFIER_AVAILABLE = missing === undefined || process.env.CI === "true";

/** Runs the independent verifier on an envelope: exit status and its one line. */
export function independentlyVerify(envelope: string, publicKey: string): { status: number | null; output: string } {
  const run = spawnSync("python3", [DSSE_VERIFY, "verify", envelope, publicKey], { encoding: "utf8" });
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}

/** Reads a statement file with the in-toto attestation protos, strictly: exit status and its one line. */
export function readStatementStrictly(file: string): { status: number | null; output: string } {
  const run = spawnSync("python3", [STATEMENT_READER, "read", file], { encoding: "utf8" });
  return { status: run.status, output: `${run.stdout}${run.stderr}`.trim() };
}
