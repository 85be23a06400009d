/**
 * The guard between laying out a sandbox and running a command in it: every declared input is
 * at its path with the bytes its key was computed from. Sandboxes are reused (sandbox.ts), and
 * every shortcut there (spares overwritten in place, kept links) is a claim that the result is
 * what a fresh sandbox would hold; this check makes a wrong claim fail the step loudly instead of
 * caching a wrong output.
 *
 * It costs one stat per input (two threads share them for a large fan-in), plus one of the
 * source for a copied source: the copy was taken after the source's digest, so if the source
 * still has the identity it was hashed with (and that record is not racy), the copy holds the
 * hashed bytes. Otherwise the copy itself is hashed.
 */
import { statPath, type PathStat } from "../stat-path.js";
import { statPaths } from "../stat-batch.js";
import { type ContentDigest } from "../key/digest.js";
import { digestFileOfSize } from "../key/file-digest.js";
import { identityMatches, type FileIdentity } from "../key/file-identity.js";
import type { StatCache } from "../state/stat-cache.js";

/** One input as the sandbox should hold it. */
export interface ExpectedInput {
  /** Workspace-relative path, which is also its path in the sandbox. */
  path: string;
  /** Absolute path in the sandbox. */
  inSandbox: string;
  digest: ContentDigest;
  size: number;
  /** For a user's source: where it was copied or linked from. */
  source?: string;
  /** For a hard link (a dependency's output, a large source): the identity of the file linked. */
  linkedIdentity?: FileIdentity;
}

/** What is wrong with an input in the sandbox, and whose fault it is. */
export interface InputProblem {
  path: string;
  /** "kiln": the sandbox is not what kiln laid out (a bug); "changed": the source moved under the build. */
  cause: "kiln" | "changed";
  detail: string;
}

export async function checkSandboxInputs(inputs: readonly ExpectedInput[], statCache: StatCache): Promise<InputProblem[]> {
  const problems: InputProblem[] = [];
  // All placed files at once (on two threads when there are many: stat-batch.ts), then judged in order.
  const placed = statPaths(inputs.map((input) => input.inSandbox));
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    // Synchronous while stats prove the input: an aggregator has 100,000 of them, and an await
    // each cost a promise and a microtask apiece.
    const found = checkInputByStat(input, placed[i], statCache);
    if (found === PROVED) continue;
    const problem = "placed" in found ? await checkInputByContent(input, found.placed.size) : found;
    if (problem) problems.push({ path: input.path, ...problem });
  }
  return problems;
}

const PROVED = Symbol("proved by stat");

/** PROVED, a problem, or the placed file's stat when only its bytes can tell. */
function checkInputByStat(input: ExpectedInput, placed: PathStat | undefined, statCache: StatCache): typeof PROVED | Omit<InputProblem, "path"> | { placed: { size: number } } {
  if (!placed) return { cause: "kiln", detail: "missing from the sandbox" };
  if (!placed.isFile) return { cause: "kiln", detail: "not a regular file in the sandbox" };
  if (placed.size !== input.size) {
    return { cause: input.source && statPath(input.source)?.size !== input.size ? "changed" : "kiln", detail: `${placed.size} bytes in the sandbox, expected ${input.size}` };
  }
  if (input.linkedIdentity) {
    // A link: the very inode kiln linked, with the stat it was hashed with.
    if (identityMatches(input.linkedIdentity, 0, placed)) return PROVED;
  } else if (input.source) {
    const recorded = statCache.entryOf(input.source);
    const source = statPath(input.source);
    if (recorded?.digest === input.digest && source && identityMatches(recorded.identity, 0, source)) return PROVED;
  }
  return { placed };
}

async function checkInputByContent(input: ExpectedInput, size: number): Promise<Omit<InputProblem, "path"> | undefined> {
  // Not provable by stat (the source's record is racy, or it moved; another kiln replaced an
  // output with identical bytes meanwhile): read the sandbox's bytes.
  if ((await digestFileOfSize(input.inSandbox, size)) === input.digest) return undefined;
  if (input.source && (await sourceDigest(input.source)) !== input.digest) {
    return { cause: "changed", detail: "its content changed while the build was reading it" };
  }
  return { cause: "kiln", detail: `its content in the sandbox is not the ${input.source ? "source's" : "dependency's output"}` };
}

async function sourceDigest(path: string): Promise<ContentDigest | undefined> {
  const stat = statPath(path);
  return stat ? digestFileOfSize(path, stat.size).catch(() => undefined) : undefined;
}
