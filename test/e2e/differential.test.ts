/**
 * Randomized differential test: every incremental build equals a clean build, byte for byte.
 *
 * Why: kiln's incremental paths (stat cache, no-op stamp, reused sandboxes, spare-file reuse,
 * hard-linked large inputs, restores from the cache) each take a shortcut that must not change a
 * single output byte. Example-based tests cover the paths someone thought of; this one generates
 * small workspaces (shared sources, globs, chains, fan-in; sources on both sides of every size
 * threshold in src/size-thresholds.ts) and random sequences of edits, touches, mtime-preserving
 * edits, renames, deletions, BUILD.ts edits, removed kiln-out or cache and SIGKILLed builds, and
 * after every build compares each kiln-out file with what the test computes from the tree itself.
 * Each case ends with a clean build of a copy of the tree (fresh cache, no kiln-out, no .kiln)
 * whose kiln-out must equal the incremental one.
 *
 * One case in four reads and writes a shared remote cache (`kiln cache serve`): remote hits are a
 * shortcut too, and removing the local cache then restores from the remote; tampering with every
 * blob on the server makes the next build refuse them all and build locally.
 *
 * Knobs: KILN_FUZZ_RUNS=N cases (default 40, ~2 minutes on 2 cores); KILN_FUZZ_MAX_OPS=N ops a
 * case (default 15); KILN_FUZZ_SEED=S (with KILN_FUZZ_PATH=P from a failure report) replays;
 * KILN_FUZZ_SKIP=kind,kind leaves op kinds out (to look past a known bug); KILN_FUZZ_BIG_WEIGHT=W
 * makes 64 MiB sources more (default 1 against 20) or, with 0, never; KILN_FUZZ_TIME_LIMIT_MS.
 * KILN_FUZZ_SERVER_RUNS (default 8) cases hand their builds to a `kiln server`; KILN_FUZZ_WATCH_RUNS
 * (default 6) watch instead.
 * KILN_STAT_BATCH_FROM (default here 3) sets from how many paths stats run on two threads.
 * A failure prints the seed, the path and the shrunk workspace and op list; every bug found is
 * pinned as a named test in regressions.test.ts.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { join } from "node:path";
import { BAZEL_REMOTE, startBazelRemote, startKilnServer, type BazelRemote, type RunningServer } from "./remote-servers.js";
import { DifferentialCase } from "./differential/case.js";
import { workspaceArbitrary } from "./differential/model.js";
import { opArbitrary } from "./differential/ops.js";

const RUNS = Number(process.env.KILN_FUZZ_RUNS ?? 40);
const SEED = process.env.KILN_FUZZ_SEED === undefined ? undefined : Number(process.env.KILN_FUZZ_SEED);
const PATH = process.env.KILN_FUZZ_PATH;
const MAX_OPS = Number(process.env.KILN_FUZZ_MAX_OPS ?? 15);
/**
 * A passing case takes ~2 s (~0.2 s a build). Past this limit the run stops: a failure found so far
 * is reported with its best shrink (shrinking reruns builds), a passing run passes with fewer cases.
 */
const TIME_LIMIT_MS = Number(process.env.KILN_FUZZ_TIME_LIMIT_MS ?? Math.max(4 * 60_000, RUNS * 6_000));

/** Server cases (KILN_FUZZ_SERVER_RUNS): every build handed to a `kiln server`, every third one not. */
const SERVER_RUNS = Number(process.env.KILN_FUZZ_SERVER_RUNS ?? 8);
const SERVER_TIME_LIMIT_MS = Number(process.env.KILN_FUZZ_SERVER_TIME_LIMIT_MS ?? Math.max(60_000, SERVER_RUNS * 6_000));

/** Watch-mode cases (KILN_FUZZ_WATCH_RUNS): each op waits for the watcher to settle, ~0.5-2 s. */
const WATCH_RUNS = Number(process.env.KILN_FUZZ_WATCH_RUNS ?? 6);
const WATCH_TIME_LIMIT_MS = Number(process.env.KILN_FUZZ_WATCH_TIME_LIMIT_MS ?? 150_000);

/**
 * Two remote caches shared by the cases that use one (remote hits across cases are correct hits
 * too): `kiln cache serve` over Bazel's HTTP protocol, and bazel-remote over REAPI's gRPC (where it
 * is built), stored uncompressed so tamperRemote's flipped bytes reach kiln.
 */
let remote: RunningServer;
let grpcRemote: BazelRemote | undefined;
// Stats of 3 paths or more go through stat-batch.ts's two threads (20,000 by default): its
// results stand behind every stamp and sandbox check, so the cases here must see them.
process.env.KILN_STAT_BATCH_FROM ??= "3";
/**
 * Half the cases lend no sandbox over 3 directories: those are emptied and parked at the build's
 * end (held between rebuilds in watch mode), as an aggregator's are past 256. The cases here are
 * small and must see that path too; the other half keep the lending path (renamed directories,
 * spares) covered.
 */
const largeSandboxes = fc.boolean();
function setLargeSandboxes(large: boolean): void {
  if (large) process.env.KILN_SANDBOX_LEND_UP_TO = "3";
  else delete process.env.KILN_SANDBOX_LEND_UP_TO;
}
beforeAll(async () => {
  remote = await startKilnServer();
  if (BAZEL_REMOTE) grpcRemote = await startBazelRemote({ storage: "uncompressed" });
});
afterAll(async () => {
  setLargeSandboxes(false);
  await remote.stop();
  await grpcRemote?.stop();
});

type RemoteChoice = "none" | "http" | "grpc";
function remoteOf(choice: RemoteChoice): { url: string; casDir: string } | undefined {
  if (choice === "http") return { url: remote.url, casDir: join(remote.root, "cas") };
  if (choice === "grpc" && grpcRemote) return { url: grpcRemote.grpcUrl, casDir: grpcRemote.casDir };
  return undefined;
}

/** One case in four builds through a remote cache too, HTTP or gRPC (removing the local cache then restores from it). */
function viaRemoteChoice(): fc.Arbitrary<RemoteChoice> {
  return fc.nat({ max: 7 }).map((n): RemoteChoice => (n === 0 ? "http" : n === 1 ? "grpc" : "none"));
}

/**
 * Runs `property` for `numRuns` cases or until `timeLimitMs` (a passing run then passes with
 * fewer), replaying KILN_FUZZ_SEED / KILN_FUZZ_PATH when given.
 */
async function assertWithin<T>(property: fc.IAsyncProperty<T>, numRuns: number, timeLimitMs: number): Promise<void> {
  await fc.assert(property, {
    numRuns,
    ...(SEED === undefined ? {} : { seed: SEED }),
    ...(PATH === undefined ? {} : { path: PATH, endOnFailure: true }),
    interruptAfterTimeLimit: timeLimitMs,
    markInterruptAsFailure: false,
    verbose: fc.VerbosityLevel.None,
  });
}

describe("differential: incremental builds equal clean builds", () => {
  it(
    "every build's kiln-out matches the model, and the last matches a clean build of the same tree",
    async () => {
      const property = fc.asyncProperty(workspaceArbitrary(), fc.array(opArbitrary(), { maxLength: MAX_OPS }), viaRemoteChoice(), largeSandboxes, async (spec, ops, choice, large) => {
        setLargeSandboxes(large);
        await new DifferentialCase(spec, remoteOf(choice)).run(ops);
      });
      await assertWithin(property, RUNS, TIME_LIMIT_MS);
    },
    TIME_LIMIT_MS + 120_000,
  );

  it(
    "kiln server: every build it takes (and the --no-server ones between) matches the model, and the last matches a clean build",
    async () => {
      const property = fc.asyncProperty(workspaceArbitrary(), fc.array(opArbitrary(), { maxLength: MAX_OPS }), viaRemoteChoice(), largeSandboxes, async (spec, ops, choice, large) => {
        setLargeSandboxes(large);
        await new DifferentialCase(spec, remoteOf(choice), false, true).run(ops);
      });
      await assertWithin(property, SERVER_RUNS, SERVER_TIME_LIMIT_MS);
    },
    SERVER_TIME_LIMIT_MS + 120_000,
  );

  it(
    "watch mode: every settled state of kiln watch matches the model, and the last matches a clean build",
    async () => {
      // Ops a user does while watching; removing kiln-out or the cache and killing builds are for the build dimension.
      const watchOp = opArbitrary().filter((op) => !["removeKilnOut", "removeCache", "killBuild", "noop", "tamperRemote", "damageParked"].includes(op.kind));
      const property = fc.asyncProperty(workspaceArbitrary(), fc.array(watchOp, { maxLength: Math.min(MAX_OPS, 8) }), largeSandboxes, async (spec, ops, large) => {
        setLargeSandboxes(large);
        await new DifferentialCase(spec, undefined, true).run(ops);
      });
      await assertWithin(property, WATCH_RUNS, WATCH_TIME_LIMIT_MS);
    },
    WATCH_TIME_LIMIT_MS + 120_000,
  );
});
