#!/usr/bin/env node
// kiln benchmark harness: kiln vs ninja vs make on generated pipelines. See bench/README.md.
//
//   node bench/run.mjs                      # default matrix, writes bench/RESULTS.md
//   node bench/run.mjs --quick              # smoke test: wide, N=200, 3 runs; asserts, no RESULTS.md
//   node bench/run.mjs --n 1000,10000 --shapes wide --runs 5
//
// Options: --quick, --n LIST, --shapes LIST, --runs R, --tools kiln,ninja,make, -j J (default 2),
//          --no-step, --step-max-n N (step-flavour rows only up to this N; default 1000),
//          --keep (keep work dirs), --work DIR, --results FILE (default bench/RESULTS.md;
//          bench/work/RESULTS-quick.md with --quick), --cold-max-n N (cold builds get all --runs only
//          up to this N, larger ones one measured run, to stay within 15 minutes; default 1000),
//          --full (every scenario gets all --runs; ~25 minutes on 2 cores),
//          --no-datasets (skip the dataset rows, bench/datasets.mjs), --datasets-only (only them).

import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { editLeaf, expectedOutputs, generate, paths, readOrNull, SHAPES } from "./generate.mjs";
import { runDatasetBench } from "./datasets.mjs";
import { runWatchBench } from "./watch.mjs";

const BENCH = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(BENCH);
const KILN_BIN = join(REPO, "bin", "kiln.cjs");
const ALL_TOOLS = ["kiln", "ninja", "make"];
const BEGIN = "<!-- bench:begin -->";
const END = "<!-- bench:end -->";

class BenchError extends Error {}
const fail = (msg) => { throw new BenchError(msg); };
const log = (...a) => process.stderr.write(a.join(" ") + "\n");

// ---------------------------------------------------------------- options

function options(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      n: { type: "string" },
      shapes: { type: "string" },
      runs: { type: "string" },
      tools: { type: "string" },
      "no-step": { type: "boolean", default: false },
      "no-datasets": { type: "boolean", default: false },
      "datasets-only": { type: "boolean", default: false },
      "step-max-n": { type: "string" },
      "cold-max-n": { type: "string" },
      full: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      work: { type: "string" },
      results: { type: "string" },
      j: { type: "string", short: "j" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 12)
      .map((l) => l.replace(/^\/\/ ?/, "")).join("\n") + "\n");
    process.exit(0);
  }
  const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
  const ints = (s) => list(s).map((x) => {
    const v = Number(x.replace(/_/g, ""));
    if (!Number.isInteger(v) || v < 2) fail(`--n: not an integer >= 2: ${x}`);
    return v;
  });
  const shapes = values.shapes ? list(values.shapes) : values.quick ? ["wide"] : ["wide", "chain", "layered"];
  for (const s of shapes) if (!SHAPES.includes(s)) fail(`--shapes: unknown shape ${s} (one of ${SHAPES.join(", ")})`);
  const defaultN = { wide: [1000, 10000], chain: [1000], layered: [1000] };
  const matrix = [];
  for (const shape of shapes) {
    const ns = values.n ? ints(values.n) : values.quick ? [200] : defaultN[shape];
    for (const n of ns) matrix.push({ shape, n });
  }
  const runs = values.runs ? Number(values.runs) : values.quick ? 3 : 5;
  if (!Number.isInteger(runs) || runs < 1) fail(`--runs: not a positive integer: ${values.runs}`);
  const tools = values.tools ? list(values.tools) : ALL_TOOLS;
  for (const t of tools) if (!ALL_TOOLS.includes(t)) fail(`--tools: unknown tool ${t}`);
  const jobs = values.j ? Number(values.j) : 2;
  const work = resolve(values.work ?? join(BENCH, "work"));
  const results = resolve(values.results ?? (values.quick ? join(work, "RESULTS-quick.md") : join(BENCH, "RESULTS.md")));
  const stepMaxN = values["step-max-n"] ? Number(values["step-max-n"]) : 1000;
  if (!Number.isInteger(stepMaxN)) fail(`--step-max-n: not an integer: ${values["step-max-n"]}`);
  const coldMaxN = values.full ? Infinity : values["cold-max-n"] ? Number(values["cold-max-n"]) : 1000;
  if (!(coldMaxN >= 2)) fail(`--cold-max-n: not a number >= 2: ${values["cold-max-n"]}`);
  return { quick: values.quick, datasets: !values["no-datasets"] && tools.includes("kiln"), datasetsOnly: values["datasets-only"], matrix, runs, tools, step: !values["no-step"], stepMaxN, coldMaxN, keep: values.keep, work, results, jobs,
    argv: ["node", "bench/run.mjs", ...argv].join(" ") };
}

// ---------------------------------------------------------------- processes

const TIME = "/usr/bin/time";
const haveTime = existsSync(TIME) && spawnSync(TIME, ["-v", "true"], { encoding: "utf8" }).status === 0;

function version(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split("\n")[0].trim() : null;
}

function rmrf(p) {
  try { rmSync(p, { recursive: true, force: true }); }
  catch (e) {
    if (e.code !== "EACCES" && e.code !== "EPERM" && e.code !== "ENOTEMPTY") throw e;
    spawnSync("chmod", ["-R", "u+w", p]); // kiln-out is read-only
    rmSync(p, { recursive: true, force: true });
  }
}

/** The pause after `sync` in settleDisk: long enough for the device to finish the discards. */
const SETTLE_MS = 300;

/**
 * After untimed preparation that deleted many files. On this machine's disk (ext4 mounted with
 * `discard`) a deletion's discards are issued when the journal commits, seconds after rm returns,
 * and keep the device busy into whatever runs next: the timed command would pay for them. `sync`
 * commits now; the pause lets the device drain. Every tool gets the same treatment.
 */
function settleDisk() {
  spawnSync("sync");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SETTLE_MS);
}

const tail = (s, n = 25) => s.trimEnd().split("\n").slice(-n).join("\n");
const shellQuote = (a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);

let logDir = os.tmpdir();

/**
 * Runs one whole command; returns wall ms, peak RSS (KiB, null without /usr/bin/time) and output.
 * stdout and stderr go to files, not pipes: a pipe the harness drains late would slow a tool down
 * (and kiln 0.1 loses --json lines past 64 KiB when its reader lags: see README).
 */
function timed(argv, env) {
  const full = haveTime ? [TIME, "-v", ...argv] : argv;
  const outFile = join(logDir, "stdout.txt"), errFile = join(logDir, "stderr.txt");
  const out = openSync(outFile, "w"), err = openSync(errFile, "w");
  const t0 = process.hrtime.bigint();
  let r;
  try { r = spawnSync(full[0], full.slice(1), { env, stdio: ["ignore", out, err] }); }
  finally { closeSync(out); closeSync(err); }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) fail(`could not run ${argv.join(" ")}: ${r.error.message}`);
  const stdout = readFileSync(outFile, "utf8");
  let stderr = readFileSync(errFile, "utf8"), rssKb = null;
  if (haveTime) {
    const at = stderr.lastIndexOf("\tCommand being timed:");
    const report = at >= 0 ? stderr.slice(at) : "";
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(report);
    if (m) rssKb = Number(m[1]);
    stderr = at >= 0 ? stderr.slice(0, at).replace(/Command exited with non-zero status \d+\n$/, "") : stderr;
  }
  return { ms, rssKb, status: r.status, signal: r.signal, stdout, stderr };
}

// ---------------------------------------------------------------- tools

// The engine is rebuilt into dist/ by others while a long run goes on: say so when a failure follows it.
const distStamp = () => {
  try {
    const files = readdirSync(join(REPO, "dist"), { recursive: true }).filter((f) => f.endsWith(".js"));
    return `${files.length}:${Math.max(0, ...files.map((f) => statSync(join(REPO, "dist", f)).mtimeMs))}`;
  } catch { return "missing"; }
};
const distAtStart = distStamp();
const engineChanged = () => (distStamp() === distAtStart ? "dist/ unchanged since the start" : "NOTE: dist/ changed during this run (engine rebuilt?)");

function makeTools(p, o, kilnArgs = []) {
  const kdir = join(p.dir, "kiln"), cache = join(p.dir, "cache");
  const kilnEnv = { ...process.env, KILN_CACHE_DIR: cache };
  delete kilnEnv.KILN_REMOTE_CACHE;
  const noted = new Set();
  return {
    kiln: {
      argv: [KILN_BIN, "build", "//...", "-j", String(o.jobs), "-C", kdir, "--json", ...kilnArgs],
      env: kilnEnv,
      clean() {
        // kiln-out, the cache, and any other state kiln left in the workspace root (found, not guessed).
        for (const e of readdirSync(kdir)) {
          if (p.kilnTop.includes(e)) continue;
          if (e !== "kiln-out" && !noted.has(e)) { noted.add(e); log(`    (cold: also removing kiln state ${join(kdir, e)})`); }
          rmrf(join(kdir, e));
        }
        rmrf(cache);
      },
      emptyOut() { rmrf(join(kdir, "kiln-out")); },
      parse(r) {
        const lines = r.stdout.split("\n").filter((l) => l.trim());
        let summary, events = [];
        try {
          summary = JSON.parse(lines[lines.length - 1]);
          events = lines.slice(0, -1).map((l) => JSON.parse(l));
        } catch { return { error: `--json stdout is not one JSON object a line; last lines:\n${tail(r.stdout, 5)}` }; }
        if (summary?.type !== "summary") return { error: `last --json line is not a summary: ${lines[lines.length - 1]}` };
        const executedEvents = events.filter((e) => e.type === "step" && e.status === "executed").length;
        return { ran: summary.executed, summary, executedEvents, stepEvents: events.filter((e) => e.type === "step").length };
      },
    },
    ninja: {
      argv: ["ninja", `-j${o.jobs}`, "-C", join(p.dir, "ninja")],
      env: process.env,
      clean() { for (const f of ["out", ".ninja_log", ".ninja_deps"]) rmrf(join(p.dir, "ninja", f)); },
      parse(r) { return { ran: r.stdout.split("\n").filter((l) => /^\[\d+\/\d+\] /.test(l)).length }; },
    },
    make: {
      argv: ["make", `-j${o.jobs}`, "-C", join(p.dir, "make")],
      env: process.env,
      clean() { rmrf(join(p.dir, "make", "out")); },
      parse(r) { return { ran: r.stdout.split("\n").filter((l) => /^(cat|xargs) /.test(l)).length }; },
    },
  };
}

/** Runs a tool once and checks its exit status and how many steps it ran. */
function runTool(name, tool, expect, where) {
  const r = timed(tool.argv, tool.env);
  const cmdline = (name === "kiln" ? `KILN_CACHE_DIR=${tool.env.KILN_CACHE_DIR} ` : "") + tool.argv.map(shellQuote).join(" ");
  const report = (msg) => fail(`${where}: ${name}: ${msg}\n  command: ${cmdline}\n  exit: ${r.status ?? r.signal}; ` +
    `stdout ${r.stdout.length} bytes, ${r.stdout.split("\n").length - 1} lines; ${engineChanged()}` +
    `\n  --- stdout (tail) ---\n${tail(r.stdout)}\n  --- stderr (tail) ---\n${tail(r.stderr)}`);
  if (r.status !== 0) report("the build failed");
  const parsed = tool.parse(r);
  if (parsed.error) report(parsed.error);
  if (name === "kiln") {
    const s = parsed.summary;
    if (s.failed !== 0) report(`summary reports ${s.failed} failed steps`);
    if (s.steps !== expect.steps) report(`summary.steps = ${s.steps}, expected ${expect.steps}`);
    if (s.executed + s.cached !== s.steps) report(`summary: executed ${s.executed} + cached ${s.cached} != steps ${s.steps}`);
    if (parsed.executedEvents !== s.executed) report(`${parsed.executedEvents} "executed" step events but summary.executed = ${s.executed}`);
    if (expect.cached != null && s.cached !== expect.cached) report(`summary.cached = ${s.cached}, expected ${expect.cached}`);
  }
  const want = expect[name];
  if (want != null && parsed.ran !== want) report(`ran ${parsed.ran} steps, expected ${want}`);
  return { ms: r.ms, rssKb: r.rssKb, ran: parsed.ran };
}

// ---------------------------------------------------------------- correctness

/** Compares every tool's outputs (all steps, or only the sinks) with the expected bytes. */
function verify(p, toolNames, which, where) {
  const expected = expectedOutputs(p, p.contents);
  const ks = which === "all" ? p.steps.map((_, k) => k) : p.sinks;
  const bad = [];
  for (const k of ks) {
    const out = paths(p, k).out;
    for (const t of toolNames) {
      const got = readOrNull(join(p.dir, out[t]));
      if (got !== expected[k]) bad.push(`${t} ${out[t]}: ${got === null ? "missing" : JSON.stringify(got)} (expected ${JSON.stringify(expected[k])})`);
    }
    if (bad.length >= 10) break;
  }
  if (bad.length) fail(`${where}: outputs are not byte-identical to the expected sha256sum lines:\n  ${bad.join("\n  ")}`);
}

// ---------------------------------------------------------------- scenarios

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/**
 * One scenario: a warm-up iteration, then `runs` measured ones; the tools' order rotates each
 * iteration. prepare(iter) runs before the iteration (untimed); before(tool) before each tool run.
 */
function scenario({ label, p, tools, names, runs, expect, prepare, before, verifyEach = "sinks", verifyEnd = "all" }) {
  const t0 = Date.now();
  const samples = Object.fromEntries(names.map((t) => [t, []]));
  for (let iter = 0; iter <= runs; iter++) {
    prepare?.(iter);
    const order = names.map((_, i) => names[(i + iter) % names.length]);
    for (const t of order) {
      before?.(t, tools[t]);
      const s = runTool(t, tools[t], expect, `${label} (${iter === 0 ? "warm-up" : `run ${iter}`})`);
      if (iter > 0) samples[t].push(s);
    }
    if (verifyEach) verify(p, names, verifyEach, `${label} (iteration ${iter})`);
  }
  if (verifyEnd) verify(p, names, verifyEnd, label);
  const result = {};
  for (const t of names) {
    const xs = samples[t];
    const rss = xs.map((s) => s.rssKb).filter((x) => x != null);
    result[t] = { median: median(xs.map((s) => s.ms)), min: Math.min(...xs.map((s) => s.ms)), max: Math.max(...xs.map((s) => s.ms)),
      runs: xs.map((s) => Math.round(s.ms * 10) / 10), ran: xs[0].ran, rssKb: rss.length ? Math.max(...rss) : null };
  }
  log(`  ${label}: ${names.map((t) => `${t} ${fmtMs(result[t].median)} (ran ${result[t].ran})`).join(", ")}  [${((Date.now() - t0) / 1000).toFixed(1)}s]`);
  return result;
}

function benchConfig({ shape, n }, o) {
  const base = join(o.work, `${shape}-${n}`);
  rmrf(base);
  const rows = [];
  const names = o.tools;
  const p = generate({ dir: join(base, "cmd"), n, shape, flavor: "cmd" });
  const tools = makeTools(p, o);
  const steps = p.steps.length, affected = p.affectedByLeaf;
  const all = (v) => Object.fromEntries(ALL_TOOLS.map((t) => [t, v]));
  const id = `${shape} N=${n}`;
  log(`${id}: ${steps} steps${shape === "layered" ? ` in ${p.layers} layers` : ""}; the edited leaf reruns ${affected}`);
  const row = (name, res, note) => rows.push({ shape, n, steps, scenario: name, res, note });

  const coldRuns = n <= o.coldMaxN ? o.runs : 1;
  row(coldRuns < o.runs ? `cold build (${coldRuns} run; --full for ${o.runs})` : "cold build",
    scenario({ label: `${id} cold`, p, tools, names, runs: coldRuns, expect: { steps, ...all(steps), cached: 0 },
      before: (t, tool) => { tool.clean(); settleDisk(); } }));
  row("no-op rebuild", scenario({ label: `${id} no-op`, p, tools, names, runs: o.runs, expect: { steps, ...all(0) } }));

  const nonce = Date.now().toString(36);
  const leafIndex = p.steps[p.leaf].index;
  row("leaf content changed", scenario({ label: `${id} leaf changed`, p, tools, names, runs: o.runs,
    expect: { steps, ...all(affected) },
    // A new content every iteration: going back to an earlier content would be a (correct) cache hit for kiln.
    prepare: (iter) => editLeaf(p, "change", `input ${leafIndex} edit ${nonce}.${iter}\n`) }),
    `${affected} of ${steps} steps rerun`);
  row("leaf touched", scenario({ label: `${id} leaf touched`, p, tools, names, runs: o.runs,
    expect: { steps, ...all(affected), kiln: 0 }, prepare: () => editLeaf(p, "touch") }),
    `mtime only: kiln must run 0, ninja/make rerun ${affected}`);

  if (names.includes("kiln")) {
    // The default sandbox is a namespace (unshare's reused ones, else bwrap); the directory sandbox alone, for its cost per step.
    const ref = rows.find((r) => r.scenario.startsWith("cold build")).res;
    const dirTools = makeTools(p, o, ["--sandbox", "dir"]);
    const dirCold = scenario({ label: `${id} cold --sandbox dir`, p, tools: dirTools, names: ["kiln"], runs: coldRuns,
      expect: { steps, kiln: steps, cached: 0 }, before: (t, tool) => { tool.clean(); settleDisk(); } });
    for (const t of names) if (t !== "kiln") dirCold[t] = { ...ref[t], ref: true };
    const perStep = ((ref.kiln.median - dirCold.kiln.median) / steps).toFixed(2);
    row("cold build, --sandbox dir", dirCold, `kiln only; the default (a namespace sandbox where one can be made) costs ${perStep} ms a step more`);
    // bwrap, a namespace per command, for what the reused unshare namespaces win back (only where it runs).
    if (spawnSync("bwrap", ["--ro-bind", "/", "/", "true"]).status === 0) {
      const bwrapCold = scenario({ label: `${id} cold --sandbox bwrap`, p, tools: makeTools(p, o, ["--sandbox", "bwrap"]), names: ["kiln"], runs: coldRuns,
        expect: { steps, kiln: steps, cached: 0 }, before: (t, tool) => { tool.clean(); settleDisk(); } });
      for (const t of names) if (t !== "kiln") bwrapCold[t] = { ...ref[t], ref: true };
      row("cold build, --sandbox bwrap", bwrapCold, "kiln only; a namespace per command");
    }
    // The same edits handed to a `kiln server` (bench/README.md): what the resident session saves over a one-off build.
    const server = spawnSync(process.execPath, [KILN_BIN, "server", "start", "-C", join(p.dir, "kiln")], { env: tools.kiln.env, encoding: "utf8" });
    if (server.status !== 0) fail(`${id}: kiln server start failed:\n${server.stderr}`);
    try {
      const changed = rows.find((r) => r.scenario === "leaf content changed").res;
      const viaServer = scenario({ label: `${id} leaf changed, kiln server`, p, tools, names: ["kiln"], runs: o.runs,
        expect: { steps, kiln: affected },
        prepare: (iter) => editLeaf(p, "change", `input ${leafIndex} server edit ${nonce}.${iter}\n`) });
      for (const t of names) if (t !== "kiln") viaServer[t] = { ...changed[t], ref: true };
      row("leaf content changed, kiln server", viaServer, `kiln server start first; ${(viaServer.kiln.median / changed.kiln.median).toFixed(2)}x the one-off build`);
    } finally {
      spawnSync(process.execPath, [KILN_BIN, "server", "stop", "-C", join(p.dir, "kiln")], { env: tools.kiln.env });
    }
    row("restore from local cache", scenario({ label: `${id} restore`, p, tools, names: ["kiln"], runs: o.runs,
      expect: { steps, kiln: 0, cached: steps }, before: (t, tool) => { tool.emptyOut(); settleDisk(); } }),
      "kiln only: empty kiln-out, warm cache");
    const nginx = NGINX && startNginx(join(base, "nginx"));
    if (nginx) {
      try {
        // Fill the remote once (untimed): every step runs and uploads.
        tools.kiln.clean();
        runTool("kiln", { ...tools.kiln, argv: [...tools.kiln.argv, "--no-cache", "--remote-cache", nginx.url, "--remote-upload"] },
          { steps, kiln: steps, cached: 0 }, `${id} remote upload`);
        const remote = { kiln: { ...tools.kiln, argv: [...tools.kiln.argv, "--remote-cache", nginx.url] } };
        const res = scenario({ label: `${id} remote restore`, p, tools: remote, names: ["kiln"], runs: o.runs,
          expect: { steps, kiln: 0, cached: steps },
          // As the local restore row, but with the local cache emptied too: everything comes over HTTP.
          before: () => { tools.kiln.emptyOut(); rmrf(tools.kiln.env.KILN_CACHE_DIR); settleDisk(); } });
        const local = rows.find((r) => r.scenario === "restore from local cache").res.kiln.median;
        row("restore from remote cache", res, `kiln only: nginx on loopback, empty kiln-out and local cache; ${(res.kiln.median / local).toFixed(1)}x the local restore`);
      } finally { nginx.stop(); }
    }
    if (o.step && n <= o.stepMaxN) {
      const q = generate({ dir: join(base, "step"), n, shape, flavor: "step" });
      const qt = makeTools(q, o);
      const ref = rows.find((r) => r.scenario.startsWith("cold build")).res;
      const refNoop = rows.find((r) => r.scenario === "no-op rebuild").res;
      const withRef = (res, from) => { for (const t of names) if (t !== "kiln") res[t] = { ...from[t], ref: true }; return res; };
      row("step flavour: cold", withRef(scenario({ label: `${id} step cold`, p: q, tools: qt, names: ["kiln"], runs: o.runs,
        expect: { steps, kiln: steps, cached: 0 }, before: (t, tool) => { tool.clean(); settleDisk(); } }), ref), "ninja/make: the cmd rows");
      row("step flavour: no-op", withRef(scenario({ label: `${id} step no-op`, p: q, tools: qt, names: ["kiln"], runs: o.runs,
        expect: { steps, kiln: 0 } }), refNoop), "ninja/make: the cmd rows");
    }
  }
  if (!o.keep) rmrf(base);
  return rows;
}

// ---------------------------------------------------------------- remote cache server

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((f) => existsSync(f));

/** nginx with WebDAV on loopback (as in test/e2e/remote-servers.ts), daemonized; stop() ends it. */
function startNginx(dir) {
  rmrf(dir);
  for (const sub of ["root", "tmp", "logs"]) mkdirSync(join(dir, sub), { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const conf = join(dir, "nginx.conf");
    writeFileSync(conf, `user root root; worker_processes 2; pid ${dir}/nginx.pid; error_log ${dir}/logs/error.log warn;
events { worker_connections 512; }
http { access_log off; client_body_temp_path ${dir}/tmp/body; proxy_temp_path ${dir}/tmp/proxy; fastcgi_temp_path ${dir}/tmp/fcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi; scgi_temp_path ${dir}/tmp/scgi;
  server { listen 127.0.0.1:${port}; root ${dir}/root; client_max_body_size 0;
    location / { dav_methods PUT DELETE; create_full_put_path on; } } }
`);
    const r = spawnSync(NGINX, ["-e", `${dir}/logs/error.log`, "-p", dir, "-c", conf], { encoding: "utf8" });
    if (r.status === 0) {
      return { url: `http://127.0.0.1:${port}`, stop: () => spawnSync(NGINX, ["-e", `${dir}/logs/error.log`, "-p", dir, "-c", conf, "-s", "stop"]) };
    }
  }
  log("  (nginx would not start: no remote cache row)");
  return undefined;
}

// ---------------------------------------------------------------- report

function fmtMs(ms) {
  if (ms == null || Number.isNaN(ms)) return "-";
  if (ms >= 10000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)} ms`;
}
const fmtRss = (kb) => (kb == null ? "-" : `${Math.round(kb / 1024)}`);

function tableRows(rows, names) {
  const head = ["shape", "N", "scenario", ...names.map((t) => `${t} (median)`)];
  if (names.includes("kiln") && names.includes("ninja")) head.push("kiln/ninja");
  head.push(`steps run (${names.map((t) => t[0]).join("/")})`, `peak RSS MiB (${names.map((t) => t[0]).join("/")})`);
  const body = rows.map((r) => {
    const cell = (t) => (r.res[t] ? fmtMs(r.res[t].median) + (r.res[t].ref ? " †" : "") : "-");
    const line = [r.shape, String(r.n), r.scenario, ...names.map(cell)];
    if (names.includes("kiln") && names.includes("ninja"))
      line.push(r.res.kiln && r.res.ninja ? `${(r.res.kiln.median / r.res.ninja.median).toFixed(2)}x` : "-");
    line.push(names.map((t) => (r.res[t] && !r.res[t].ref ? r.res[t].ran : "-")).join("/"),
      names.map((t) => (r.res[t] && !r.res[t].ref ? fmtRss(r.res[t].rssKb) : "-")).join("/"));
    return line;
  });
  return [head, ...body];
}

function printTable(table) {
  const w = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  const fmt = (r) => r.map((x, c) => (c >= 3 ? x.padStart(w[c]) : x.padEnd(w[c]))).join("  ");
  return [fmt(table[0]), w.map((x) => "-".repeat(x)).join("  "), ...table.slice(1).map(fmt)].join("\n");
}

const markdownTable = (table) => [table[0], table[0].map((_, c) => (c >= 3 ? "---:" : "---")), ...table.slice(1)]
  .map((r) => `| ${r.join(" | ")} |`).join("\n");

function machine() {
  const cpus = os.cpus();
  return {
    cores: cpus.length, cpu: cpus[0]?.model?.trim() ?? "unknown", memGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`, node: process.version,
    ninja: version("ninja", ["--version"]), make: version("make", ["--version"]),
    rss: haveTime ? "GNU time -v (peak RSS of the largest single process of the command)" : "not measured (/usr/bin/time missing: apt-get install -y time)",
  };
}

function writeResults(file, o, rows, m, elapsedS) {
  const table = tableRows(rows, o.tools);
  const section = [
    BEGIN,
    "<!-- generated by bench/run.mjs; edit outside the markers -->",
    `Run ${new Date().toISOString()} with \`${o.argv}\`${o.quick ? " (quick: a smoke test; the times mean little)" : ""}, in ${Math.round(elapsedS)} s.`,
    "",
    `- machine: ${m.cores} cores (${m.cpu}), ${m.memGiB} GiB, ${m.os}`,
    `- Node ${m.node}; ninja ${m.ninja ?? "missing"}; ${m.make ?? "make missing"}`,
    `- ${o.runs} measured runs per cell after one warm-up, tools alternating; -j${o.jobs}; peak RSS: ${m.rss}`,
    "",
    markdownTable(table),
    "",
    ...(rows.some((r) => Object.values(r.res).some((x) => x.ref))
      ? ["† ninja and make have no `step` flavour: these cells repeat the cmd rows' numbers, and the ratio is against them."] : []),
    END,
  ].join("\n");
  let text;
  if (existsSync(file)) {
    const old = readFileSync(file, "utf8");
    const a = old.indexOf(BEGIN), b = old.indexOf(END);
    text = a >= 0 && b > a ? old.slice(0, a) + section + old.slice(b + END.length) : old.trimEnd() + "\n\n" + section + "\n";
  } else {
    text = "# kiln benchmark results\n\nHow to run and read these: bench/README.md. Notes written by hand go outside the markers;\n" +
      "`node bench/run.mjs` regenerates only what is between them.\n\n" + section + "\n";
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

// ---------------------------------------------------------------- main

async function main() {
  const t0 = Date.now();
  const o = options(process.argv.slice(2));
  for (const t of o.tools) {
    if (t === "kiln" && !existsSync(KILN_BIN)) fail(`${KILN_BIN} is missing (run npm run build, or pass --tools ninja,make)`);
    if (t !== "kiln" && !version(t, ["--version"])) fail(`${t} is not installed`);
  }
  const m = machine();
  log(`kiln bench: ${o.matrix.map((c) => `${c.shape}@${c.n}`).join(", ")}; ${o.runs} runs; tools ${o.tools.join(", ")}; work dir ${o.work}`);
  if (!haveTime) log("note: /usr/bin/time is missing, so peak RSS is not measured (apt-get install -y time)");
  mkdirSync(o.work, { recursive: true });
  logDir = join(o.work, "logs");
  mkdirSync(logDir, { recursive: true });
  if (o.datasetsOnly) {
    await runDatasetBench({ quick: o.quick, work: o.work, results: o.results, timed, fail, log, argv: o.argv });
    log(`wrote the dataset rows to ${o.results} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return;
  }
  const rows = [];
  for (const c of o.matrix) rows.push(...benchConfig(c, o));
  const elapsedS = (Date.now() - t0) / 1000;
  process.stdout.write(printTable(tableRows(rows, o.tools)) + "\n");
  if (rows.some((r) => Object.values(r.res).some((x) => x.ref))) process.stdout.write("† repeats the cmd row: ninja/make have no step flavour\n");
  writeFileSync(join(o.work, o.quick ? "results-quick.json" : "results.json"), JSON.stringify({ machine: m, options: o, rows }, null, 2));
  writeResults(o.results, o, rows, m, elapsedS);
  log(`all outputs byte-identical across ${o.tools.join(", ")}; all step counts as expected`);
  if (o.tools.includes("kiln") && o.tools.includes("ninja")) {
    const watchT0 = Date.now();
    await runWatchBench({ quick: o.quick, work: o.work, results: o.results, jobs: o.jobs, fail, log });
    log(`watch rows in ${((Date.now() - watchT0) / 1000).toFixed(0)} s`);
  }
  if (o.datasets) {
    await runDatasetBench({ quick: o.quick, work: o.work, results: o.results, timed, fail, log, argv: o.argv });
  }
  const totalS = (Date.now() - t0) / 1000;
  log(`wrote ${o.results} in ${totalS.toFixed(0)} s total (datasets: ${(totalS - elapsedS).toFixed(0)} s)`);
  const budget = o.quick ? 180 : 1200;
  if (totalS > budget) log(`warning: took ${totalS.toFixed(0)} s, over the ${budget} s budget for this mode`);
}

main().catch((e) => {
  if (!(e instanceof BenchError)) throw e;
  process.stderr.write(`\nBENCH FAILED: ${e.message}\n`);
  process.exit(1);
});
