/**
 * The command line: commander wiring, exit codes, and the one place errors become text.
 * Exit codes: 0 success; 1 a step or test failed; 2 the request or the workspace is wrong, or the
 * machine is in the way (a cache dir kiln cannot write, a full disk, a source removed mid-build).
 * Heavy modules (esbuild, lmdb) load only in the commands
 * that need them, and commander only once the no-op fast path has not answered: a no-op build
 * loads nothing but what checking its up-to-date stamp needs.
 */
import type { Command } from "commander";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { inputError } from "../errors.js";
import { reportFailure } from "./error-report.js";
import { KILN_VERSION } from "../kiln-install.js";
import { SANDBOX_CHOICES, type SandboxChoice } from "../exec/namespace-sandbox.js";
import { findWorkspaceRoot, OUTPUT_DIR, STATE_DIR } from "../workspace/root.js";
import { answerIfUpToDate, isJobCount, stampMayAnswer, tryUpToDate, type UpToDateOutcome } from "./up-to-date.js";
import type { BuildCommandOptions } from "./build-command.js";
import { buildOnServer, serverCallFor } from "../server/server-client.js";

interface GlobalOptions {
  workspace?: string;
  cacheDir?: string;
  verbose?: boolean;
}

let verbose = false;
/** commander, loaded by the first command line the fast path does not answer. */
let commander: typeof import("commander") | undefined;

function parseJobs(value: string): number {
  if (!isJobCount(value)) throw inputError(`-j takes a positive whole number, not "${value}"`);
  return Number(value);
}

function addBuildOptions(command: Command): Command {
  return command
    .option("-j, --jobs <n>", "steps run at once (default: the number of cores)", parseJobs)
    .option("-k, --keep-going", "after a failure, build everything that does not depend on it")
    .option("--no-cache", "run every step, ignoring cached results (results are still stored)")
    .option("--explain", "for each step that runs, say which input, code, param or tool changed")
    .option("--json", "one JSON event a line on stdout: each step, then a summary")
    .option("-q, --quiet", "print only failures, warnings and the summary line")
    .option("--remote-cache <url>", "a shared cache behind the local one: http(s):// for Bazel's HTTP cache protocol, grpc(s):// for REAPI's gRPC cache (default: $KILN_REMOTE_CACHE; token: $KILN_REMOTE_CACHE_TOKEN)")
    .option("--remote-instance <name>", "the REAPI instance name of a grpc:// remote cache (default: $KILN_REMOTE_INSTANCE, else none)")
    .option("--remote-upload", "also write results to the remote cache (default: $KILN_REMOTE_UPLOAD=1); for CI")
    .option("--provenance", "write an in-toto provenance statement beside each requested target's outputs (kiln-out/<pkg>/<name>.provenance.json)")
    .option("--locked", "refuse to build (exit 2) when a source differs from kiln.lock or is not in it")
    .option("--profile <file>", "write a Chrome trace-event profile (Perfetto, chrome://tracing; kiln analyze-profile reads it)")
    .addOption(
      new commander!.Option(
        "--sandbox <mode>",
        "how cmd steps are isolated: auto (a namespace sandbox where one can be made, else the directory sandbox with a warning), strict (a namespace sandbox or no build), unshare, bwrap, or dir (a directory holding only the inputs); default: WORKSPACE.ts's `sandbox`, else auto",
      ).choices([...SANDBOX_CHOICES]),
    );
}

/**
 * The command line's program. `upToDate`: what the fast path already made of this command line
 * (the stamp is checked at most once a process: a miss before commander is not retried, and what
 * it found changed goes to the build).
 */
export async function createProgram(upToDate: UpToDateOutcome = { checked: false }): Promise<Command> {
  commander ??= await import("commander");
  const { Command, Option } = commander;
  const program = new Command("kiln")
    .description("A hermetic, cached build system for data and ML pipelines.\nPipelines are TypeScript BUILD.ts files; every step is keyed by its inputs and code.")
    .option("-C, --workspace <dir>", "the workspace root (default: nearest directory upward with WORKSPACE.ts)")
    .option("--cache-dir <dir>", "the local cache (default: $KILN_CACHE_DIR, $XDG_CACHE_HOME/kiln or ~/.cache/kiln)")
    .option("--verbose", "show stack traces of internal errors")
    .showHelpAfterError("(run kiln --help for usage)")
    .addHelpText(
      "after",
      `
Labels and patterns:
  //models:classifier   one target          :classifier   in the current package
  //models              //models:models     //models:all  every target of a package
  //...                 everything          //data/...    everything under data/

Examples:
  kiln build //models:classifier     train the model (and whatever it needs)
  kiln build --explain //...         build everything, saying why each step reran
  kiln query 'rdeps(//..., //data:penguins)'   what depends on the dataset
  kiln test //...                    run the tests
  kiln graph //... --format html -o graph.html   the DAG with last build's status
  kiln cache stats                   how big the cache is, how often it hits
  source <(kiln completion bash)     tab-complete commands, flags and labels

kiln --version (or -V) prints kiln's version.
Exit codes: 0 success, 1 a step or test failed, 2 the request or the workspace is wrong
(or the machine is: a cache dir kiln cannot write, a full disk).`,
    );
  program.exitOverride();

  addBuildOptions(program.command("build").argument("[patterns...]", "targets to build (default //...)"))
    .option("--no-server", "build in this process even when the workspace has a kiln server (default: $KILN_SERVER=0 does the same)")
    .description("build targets and what they depend on")
    .addHelpText("after", `
Examples:
  kiln build                              everything (//...)
  kiln build //models:classifier -j 4     one target and what it needs, 4 steps at once
  kiln build -k --explain //...           keep going after a failure; say why each step reran
  kiln build --json //... | jq .          one JSON event a line
  kiln build --profile trace.json         then: kiln analyze-profile trace.json`)
    .action(async (patterns: string[], options: BuildCommandOptions, command: Command) => {
      process.exitCode = await buildOrTest(patterns, { ...command.optsWithGlobals(), ...options }, "build", upToDate);
    });

  addBuildOptions(program.command("test").argument("[patterns...]", "tests to run (default //...)"))
    .option("--no-server", "run in this process even when the workspace has a kiln server (default: $KILN_SERVER=0 does the same)")
    .description("build and run test targets; passing results are cached")
    .addHelpText("after", `
Examples:
  kiln test                               every test (//...)
  kiln test //models:quality              one test and what it needs`)
    .action(async (patterns: string[], options: BuildCommandOptions, command: Command) => {
      process.exitCode = await buildOrTest(patterns, { ...command.optsWithGlobals(), ...options }, "test", upToDate);
    });

  addBuildOptions(program.command("watch").argument("[patterns...]", "targets to build and keep fresh (default //...)"))
    .description("build, then rebuild what each save changes; Ctrl-C stops")
    .option("--poll", "poll for changes instead of inotify (network and container file systems)")
    .addHelpText(
      "after",
      `
Watches what the build read (sources, glob directories, BUILD.ts and WORKSPACE.ts files, step code),
never kiln-out/, .kiln/ or node_modules/. A change while building cancels the steps it makes obsolete.

Examples:
  kiln watch //models:classifier      retrain whenever its data, code or params change
  kiln watch --json //...             one JSON event a line, a summary per rebuild`,
    )
    .action(async (patterns: string[], options: import("./watch-command.js").WatchCommandOptions, command: Command) => {
      const { runWatchCommand } = await import("./watch-command.js");
      process.exitCode = await runWatchCommand(patterns, { ...command.optsWithGlobals(), ...options });
    });

  program
    .command("query")
    .argument("<expression>", "e.g. //...  deps(//models:classifier)  rdeps(//..., //data:penguins)  kind(dataset, //...)")
    .description("print the targets an expression selects (Bazel's query syntax): one label a line, JSON, or a DOT graph")
    .addOption(new Option("--output <format>", "label (one a line), json, or graph (DOT)").choices(["label", "json", "graph"]).default("label"))
    .addHelpText(
      "after",
      `
Functions: deps(x) deps(x, depth) rdeps(universe, x) rdeps(universe, x, depth) kind(regex, x)
allpaths(from, to) somepath(from, to) attr(name, regex, x); set operators + - ^ (union except intersect).
attr names: rule, cmd, run, outs, tools, srcs, srcs.NAME, env, params.PATH, test, network.

Examples:
  kiln query 'deps(//models:classifier, 1)'              what the classifier reads directly
  kiln query 'rdeps(//..., //data:penguins)'             everything the dataset feeds
  kiln query 'somepath(//reports:report, //data:penguins)'   one chain from the report to the data
  kiln query 'attr(tools, python3, //...)'               cmd steps that run python3
  kiln query 'kind(step, //...) - //models/...' --output json`,
    )
    .action(async (expression: string, options: { output?: import("./query-command.js").QueryOutput }, command: Command) => {
      const { runQueryCommand } = await import("./query-command.js");
      process.exitCode = await runQueryCommand(expression, { ...command.optsWithGlobals(), ...options });
    });

  program
    .command("analyze-profile")
    .argument("<trace>", "a profile written by kiln build --profile")
    .description("the critical path, the ten slowest steps and time by kind of work, from a build's profile")
    .option("--json", "one JSON object on stdout")
    .addHelpText("after", `
Example:
  kiln build --profile /tmp/trace.json //... && kiln analyze-profile /tmp/trace.json`)
    .action(async (trace: string, options: { json?: boolean }) => {
      const { runAnalyzeProfile } = await import("./analyze-profile-command.js");
      process.exitCode = await runAnalyzeProfile(trace, options);
    });

  program
    .command("graph")
    .argument("[patterns...]", "targets to draw with what they depend on (default //...)")
    .description("the build graph as Graphviz DOT, JSON, a Mermaid flowchart, or one self-contained HTML page, with each target's last-build status")
    .addOption(new Option("--format <format>", "output format").choices(["dot", "json", "mermaid", "html"]).default("dot"))
    .option("-o, --out <file>", "write to a file instead of stdout")
    .addHelpText("after", `
Examples:
  kiln graph //models:classifier | dot -Tsvg > graph.svg
  kiln graph //... --format html -o graph.html     open it in a browser: pan, zoom, search, click a node
  kiln graph //data/... --format mermaid           paste into a Markdown file`)
    .action(async (patterns: string[], options: import("./graph-command.js").GraphCommandOptions, command: Command) => {
      const { runGraphCommand } = await import("./graph-command.js");
      process.exitCode = await runGraphCommand(patterns, { ...command.optsWithGlobals(), ...options });
    });

  program
    .command("why")
    .argument("<label>", "a target, e.g. //models:classifier")
    .description("why the target's step last ran: which input, code, param or tool changed, and where its log is")
    .addHelpText("after", `
Examples:
  kiln why //models:classifier            which input, code, param or tool made it run
  kiln why //models:classifier --since 1.0.0   what changed since release 1.0.0`)
    .option("--since <release>", "instead: what changed (inputs, params, code, transitively) since a release of this target")
    .option("--out <dir>", "with --since: where releases live (default: dist/ in the workspace)")
    .action(async (label: string, options: { since?: string; out?: string }, command: Command) => {
      const { runWhyCommand } = await import("./why-command.js");
      process.exitCode = await runWhyCommand(label, { ...command.optsWithGlobals(), ...options });
    });

  program
    .command("provenance")
    .argument("[label]", "a target, e.g. //models:classifier")
    .description("an in-toto statement (SLSA provenance v1) for the target's outputs: what it was built from, transitively")
    .addHelpText("after", `
Examples:
  kiln provenance //models:classifier --out model.provenance.json
  kiln provenance --verify model.provenance.json        do the outputs, data and code still match?
  kiln provenance //models:classifier --sign key.pem --out model.dsse.json
  kiln provenance --verify model.dsse.json --key key.pub.pem   signed by that key, and still matching?`)
    .option("--out <file>", "write the statement to a file instead of stdout")
    .option("--sign <key.pem>", "wrap the statement in a DSSE envelope signed with this Ed25519 or ECDSA P-256 private key")
    .option("--verify <statement>", "check a statement: its subjects against the files, its materials against the workspace (exit 1 if any differs)")
    .option("--key <public.pem>", "with --verify: the public key a signed statement (DSSE envelope) must verify with")
    .option("--subjects-only", "with --verify: check only the subjects (the output files), not the materials")
    .option("--dir <dir>", "with --verify: where subjects' paths start (default: the workspace root, else the statement's directory)")
    .action(async (label: string | undefined, options: { out?: string; verify?: string; dir?: string; sign?: string; key?: string; subjectsOnly?: boolean }, command: Command) => {
      const { runProvenanceCommand } = await import("./provenance-command.js");
      process.exitCode = await runProvenanceCommand(label, { ...command.optsWithGlobals(), ...options });
    });

  program
    .command("verify")
    .argument("[patterns...]", "targets whose steps to check (default //...)")
    .description("rebuild the steps without the cache, in a fresh copy and fresh sandboxes, and report those whose outputs differ (exit 1)")
    .addHelpText("after", `
Example:
  kiln verify //models/...                are the models' steps reproducible?`)
    .option("-j, --jobs <n>", "steps run at once (default: the number of cores)", parseJobs)
    .addOption(new Option("--sandbox <mode>", "how cmd steps are isolated").choices([...SANDBOX_CHOICES]).default("auto"))
    .action(async (patterns: string[], options: { jobs?: number; sandbox?: SandboxChoice }, command: Command) => {
      const { runVerifyCommand } = await import("./verify-command.js");
      process.exitCode = await runVerifyCommand(patterns.length > 0 ? patterns : ["//..."], { ...command.optsWithGlobals(), ...options });
    });

  program
    .command("release")
    .argument("[label]", "the target to release, e.g. //models:classifier")
    .description("make a release: a directory and a .tar.gz with the target's outputs, provenance, kiln.lock and a manifest; never overwritten")
    .addHelpText("after", `
Examples:
  kiln release //models:classifier --version 1.2.0
  kiln release --list
  kiln release --diff 1.1.0 1.2.0         inputs, params and code that differ`)
    .option("--version <X.Y.Z>", "the release's version")
    .option("--out <dir>", "where releases live (default: dist/ in the workspace)")
    .option("--list", "list the releases in --out")
    .option("--diff <releases...>", "what differs (inputs, params, code) between two releases: --diff 1.0.0 1.1.0")
    .option("--sign <key.pem>", "also sign the release's statements (DSSE) with this Ed25519 or ECDSA P-256 private key")
    .action(async (label: string | undefined, options: { version?: string; out?: string; list?: boolean; diff?: string[]; sign?: string }, command: Command) => {
      const { runReleaseCommand } = await import("./release-command.js");
      process.exitCode = await runReleaseCommand(label, { ...command.optsWithGlobals(), ...options });
    });

  program
    .command("metrics")
    .description("the metrics files targets declare (metrics: [...] on a step)")
    .addHelpText("after", `
Example:
  kiln metrics diff //models:classifier   how the metrics moved since the build before`)
    .command("diff")
    .addHelpText("after", `
Examples:
  kiln metrics diff //models:classifier              previous build -> last build
  kiln metrics diff //models:classifier 1.0.0 last   a release -> the last build`)
    .argument("<label>", "a target that declares metrics, e.g. //models:classifier")
    .argument("[builds...]", "two builds: last, previous, or a release version (default: previous last)")
    .option("--out <dir>", "where releases live (default: dist/ in the workspace)")
    .description("what changed in the target's metrics between two builds (each leaf, old -> new, and the change)")
    .action(async (label: string, builds: string[], options: { out?: string }, command: Command) => {
      const { runMetricsDiff } = await import("./metrics-command.js");
      process.exitCode = await runMetricsDiff(label, builds, { ...command.optsWithGlobals(), ...options });
    });

  program
    .command("lock")
    .description("pin every source of WORKSPACE.ts in kiln.lock (path sources are also frozen into a snapshot in the cache)")
    .addHelpText("after", `
Examples:
  kiln lock                               write kiln.lock (commit it)
  kiln lock --check                       in CI: fail if a source drifted`)
    .option("--check", "write nothing; exit 1 listing every source that differs from kiln.lock")
    .action(async (options: { check?: boolean }, command: Command) => {
      const { runLockCommand } = await import("./lock-command.js");
      process.exitCode = await runLockCommand({ ...command.optsWithGlobals(), ...options });
    });

  const cache = program
    .command("cache")
    .description("the local cache (gc, stats) and a shared one (serve)")
    .addHelpText(
      "after",
      `
Examples:
  kiln cache stats                     entries, size, cap and the hit rate of recent builds
  kiln cache gc                        trim to the cap (KILN_CACHE_MAX_SIZE, WORKSPACE.ts's cacheMaxSize, else 10G)
  kiln cache gc --max-size 2G --older-than 30d
  kiln cache serve --dir /srv/kiln-cache --port 8080`,
    );

  cache
    .command("gc")
    .description("trim the local cache, least recently used first; never what a kept result, a release or a running build needs")
    .option("--max-size <size>", "keep at most this much, e.g. 10G, 500M (default: the cap)")
    .option("--older-than <age>", "also remove what was not used for this long, e.g. 30d, 12h")
    .option("--dry-run", "say what would be removed; remove nothing")
    .option("--json", "one JSON object on stdout")
    .addOption(new Option("--auto", "started by a build past the cap").hideHelp())
    .addHelpText(
      "after",
      `
Builds trim automatically past the cap, in the background. Results hit or stored in the last 15 minutes,
blobs a kept result refers to and whatever a release pins are never removed.

Examples:
  kiln cache gc --max-size 5G          make room
  kiln cache gc --older-than 30d       forget what no build used this month
  kiln cache gc --dry-run --max-size 1G`,
    )
    .action(async (options: import("./cache-command.js").CacheGcOptions, command: Command) => {
      const { runCacheGc } = await import("./cache-command.js");
      process.exitCode = await runCacheGc({ ...command.optsWithGlobals(), ...options });
    });

  cache
    .command("stats")
    .description("the local cache: results, blobs, bytes, the cap, releases' pins, and the hit rate of recent builds")
    .option("--json", "one JSON object on stdout")
    .addHelpText("after", `
Example:
  kiln cache stats --json | jq .recent.hitRate`)
    .action(async (options: { json?: boolean }, command: Command) => {
      const { runCacheStats } = await import("./cache-command.js");
      process.exitCode = await runCacheStats({ ...command.optsWithGlobals(), ...options });
    });

  cache
    .command("serve")
    .description("serve a remote cache (Bazel's HTTP cache protocol) for kiln and Bazel: GET/HEAD/PUT /cas/<sha256>, /ac/<key>")
    .option("--port <port>", "port to listen on", "8080")
    .option("--host <host>", "address to listen on (0.0.0.0 for every interface)", "127.0.0.1")
    .option("--dir <dir>", "where blobs and the index are kept")
    .option("--token <token>", "uploads need Authorization: Bearer <token> (default: $KILN_CACHE_SERVE_TOKEN)")
    .option("--read-token <token>", "reads need this token or the write token (default: $KILN_CACHE_SERVE_READ_TOKEN)")
    .option("--max-size <size>", "evict least recently used entries past this size, e.g. 50G", "50G")
    .option("--max-body <size>", "largest upload accepted", "4G")
    .addHelpText("after", `
Example:
  KILN_CACHE_SERVE_TOKEN=secret kiln cache serve --dir /srv/kiln-cache --host 0.0.0.0 --port 8080`)
    .action(async (options: import("./cache-serve-command.js").CacheServeOptions) => {
      const { runCacheServe } = await import("./cache-serve-command.js");
      process.exitCode = await runCacheServe(options);
    });

  const server = program
    .command("server")
    .description("keep this workspace's build session in memory: kiln build and kiln test hand their builds to it (start, stop, status)")
    .addHelpText(
      "after",
      `
A kiln server reads the graph, the stat cache and the up-to-date stamp once and keeps them, as
Bazel's server does: on a large workspace (100,000 targets) each build saves seconds of reading.
Every build still checks every file it recorded; output, exit codes and --json are the same.
kiln build --no-server (or KILN_SERVER=0) builds in its own process.

Examples:
  kiln server start                    then kiln build as usual
  kiln server status                   its pid, memory and builds served (exit 1: none runs)
  kiln server stop`,
    );
  const serverAction = (name: "startServer" | "stopServer" | "serverStatus" | "runServerForeground") => async (options: import("./server-command.js").ServerCommandOptions, command: Command) => {
    const run = (await import("./server-command.js"))[name];
    process.exitCode = await run({ ...command.optsWithGlobals(), ...options });
  };
  server
    .command("start")
    .description("start the workspace's server in the background and return once it listens")
    .option("--idle-timeout <minutes>", "end the server after this long without a build (default: 180)")
    .addHelpText("after", `
The server logs to .kiln/server.log. It ends itself when idle, when told to stop, and when a
client of another kiln build (after npm run build or an upgrade) reaches it.

Examples:
  kiln server start                    then kiln build as usual
  kiln server start --idle-timeout 30  end it after half an hour without a build`)
    .action(serverAction("startServer"));
  server
    .command("stop")
    .description("stop the workspace's server (a build it is running is interrupted)")
    .addHelpText("after", `
Example:
  kiln server stop -C ~/pipelines/churn`)
    .action(serverAction("stopServer"));
  server
    .command("status")
    .description("whether the workspace has a server, its pid, memory and builds served (exit 1: none runs)")
    .option("--json", "one JSON object on stdout")
    .addHelpText("after", `
Example:
  kiln server status --json | jq .rssBytes`)
    .action(serverAction("serverStatus"));
  server
    .command("run")
    .description("run the server in this process (logs to stderr), for a terminal or a service manager")
    .option("--idle-timeout <minutes>", "end the server after this long without a build (default: 180)")
    .addHelpText("after", `
Example:
  kiln server run -C ~/pipelines/churn    in a terminal of its own; Ctrl-C stops it`)
    .action(serverAction("runServerForeground"));

  program
    .command("doctor")
    .description("what this machine gives kiln: the sandbox mode and why, the cache, the remote, watch limits; each with its fix")
    .option("--remote-cache <url>", "the remote cache to try (default: $KILN_REMOTE_CACHE)")
    .addHelpText("after", `
Example:
  kiln doctor                             run it when a build is slow or not hermetic`)
    .action(async (_options: unknown, command: Command) => {
      const { runDoctor } = await import("./doctor-command.js");
      const globals = command.optsWithGlobals() as GlobalOptions & { remoteCache?: string };
      process.exitCode = await runDoctor({ cacheDir: globals.cacheDir, remoteCache: globals.remoteCache });
    });

  program
    .command("clean")
    .description(`remove ${OUTPUT_DIR}/ and the workspace state in ${STATE_DIR}/ (with --cache, the local cache too)`)
    .addHelpText("after", `
Examples:
  kiln clean                              outputs and workspace state; the cache stays
  kiln clean --cache                      the local cache too (every workspace's)`)
    .addOption(new Option("--cache", "also remove the local cache"))
    .action(async (options: { cache?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals() as GlobalOptions;
      const root = findWorkspaceRoot(process.cwd(), globals.workspace);
      // A server's session is state too: it ends first (its record and socket are in STATE_DIR).
      const { stopServer } = await import("./server-command.js");
      await stopServer({ workspace: root }, { quietWhenNone: true });
      rmSync(join(root, OUTPUT_DIR), { recursive: true, force: true });
      rmSync(join(root, STATE_DIR), { recursive: true, force: true });
      if (options.cache) {
        const { defaultCacheDir } = await import("../cache/local-store.js");
        rmSync(globals.cacheDir ?? defaultCacheDir(process.env), { recursive: true, force: true });
      }
    });

  program
    .command("completion")
    .argument("<shell>", "bash, zsh or fish")
    .description("print a shell completion script: commands, flags and the labels of the workspace you are in")
    .addHelpText("after", `
Examples:
  source <(kiln completion bash)                 in ~/.bashrc
  source <(kiln completion zsh)                  in ~/.zshrc
  kiln completion fish > ~/.config/fish/completions/kiln.fish`)
    .action(async (shell: string) => {
      const { completionScript, COMPLETION_SHELLS } = await import("./completion.js");
      if (!(COMPLETION_SHELLS as readonly string[]).includes(shell)) throw inputError(`kiln completion takes one of ${COMPLETION_SHELLS.join(", ")}, not "${shell}"`);
      process.stdout.write(completionScript(shell as import("./completion.js").CompletionShell, describeCommands(program), flagsOf(program)));
    });

  // What the completion scripts call: the workspace's labels, one a line; nothing outside one.
  program
    .command("__complete", { hidden: true })
    .argument("<what>", "labels")
    .action(async (what: string, _options: unknown, command: Command) => {
      if (what !== "labels") return;
      const globals = command.optsWithGlobals() as GlobalOptions;
      let root: string;
      try {
        root = findWorkspaceRoot(process.cwd(), globals.workspace);
      } catch {
        return;
      }
      const { WorkspaceSession } = await import("../session/workspace-session.js");
      const { parsePattern } = await import("../workspace/label.js");
      const session = WorkspaceSession.open(root, undefined);
      const loaded = await session.load([parsePattern("//...")]);
      session.save();
      const labels = [...loaded.graph.targets.keys()].sort();
      if (labels.length > 0) process.stdout.write(`${labels.join("\n")}\n`);
    });

  return program;
}

/** The flags of one command, as typed (`--jobs`, `-j`), hidden ones left out. */
function flagsOf(command: Command): string[] {
  return command.options.filter((option) => !option.hidden).flatMap((option) => [option.long, option.short].filter((flag): flag is string => flag !== undefined));
}

/** The program's visible commands for the completion scripts. */
function describeCommands(program: Command): import("./completion.js").CompletionCommand[] {
  const describe = (command: Command): import("./completion.js").CompletionCommand => ({
    name: command.name(),
    description: command.description().split("\n")[0] ?? "",
    flags: [...flagsOf(command), "--help"],
    subcommands: command.commands.filter((sub) => !(sub as unknown as { _hidden?: boolean })._hidden).map(describe),
    takesLabels: command.registeredArguments.some((argument) => /pattern|label/.test(argument.name())),
  });
  return program.commands.filter((command) => !(command as unknown as { _hidden?: boolean })._hidden).map(describe);
}

/** The no-op fast path first (unless the user asked for work or explanations), then a real build. */
async function buildOrTest(patterns: string[], options: BuildCommandOptions & { server?: boolean }, mode: "build" | "test", upToDate: UpToDateOutcome): Promise<number> {
  if (!upToDate.serverTried) {
    const call = serverCallFor(findWorkspaceRoot(process.cwd(), options.workspace), mode, patterns, options);
    const code = call ? await buildOnServer(call) : undefined;
    if (code !== undefined) return code;
  }
  let changes = upToDate.changes;
  if (stampMayAnswer(options) && !upToDate.checked) {
    const check = tryUpToDate(patterns, options, mode);
    if (check.code !== undefined) return check.code;
    changes = check.changes;
  }
  const { runBuildCommand } = await import("./build-command.js");
  return runBuildCommand(patterns, options, mode, changes);
}

/**
 * Runs a command line and returns its exit code. `upToDate` is what the fast path already made of
 * `argv` (bin/kiln.cjs runs it from a bundle of its own before loading this one); without it, main
 * runs the fast path first.
 */
export async function main(argv: readonly string[], upToDate?: UpToDateOutcome): Promise<number> {
  verbose = argv.includes("--verbose");
  try {
    // Handled here, not by commander's program-wide --version: \`kiln release --version 1.0.0\` needs the flag.
    if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
      process.stdout.write(`${KILN_VERSION}\n`);
      return 0;
    }
    upToDate ??= answerIfUpToDate(argv);
    if (upToDate.code !== undefined) return upToDate.code;
    const program = await createProgram(upToDate);
    await program.parseAsync(argv as string[], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    return reportError(error);
  }
}

export function reportError(error: unknown): number {
  if (commander && error instanceof commander.CommanderError) {
    // Help and version are successes; anything else commander rejects is a bad request.
    return error.exitCode === 0 ? 0 : 2;
  }
  return reportFailure(error, process.stderr, verbose);
}
