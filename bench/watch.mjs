// The watch rows of the benchmark: `kiln watch` resident on the wide graph, one leaf edited at a
// time, beside ninja's whole one-leaf rebuild (process start included) in the same run. Per edit:
// time from the write to the first step starting (the executed step's event time minus its
// duration) and to the rebuild's summary; RSS of the watch process before and after many
// rebuilds. Every rebuild must execute exactly the steps the edit affects, and its outputs must
// equal ninja's. Called by run.mjs.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeResultsSection } from "./results-section.mjs";
import { fileURLToPath } from "node:url";
import { editLeaf, expectedOutputs, generate, paths } from "./generate.mjs";

const BENCH = dirname(fileURLToPath(import.meta.url));
const KILN_BIN = join(dirname(BENCH), "bin", "kiln.cjs");
const BEGIN = "<!-- watch:begin -->";
const END = "<!-- watch:end -->";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);

/** A running `kiln watch --json`: resolves each summary with the step events before it. */
function startWatch(ws, cache, jobs) {
  const child = spawn(KILN_BIN, ["watch", "//...", "--json", `-j${jobs}`, "-C", ws], {
    env: { ...process.env, KILN_CACHE_DIR: cache, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let buffered = "";
  let steps = [];
  let stderr = "";
  const waiters = [];
  const summaries = [];
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    const now = performance.now();
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.trim()) continue;
      const event = JSON.parse(line);
      if (event.type === "step") steps.push({ ...event, at: now });
      else if (event.type === "summary") {
        summaries.push({ summary: event, steps, at: now });
        steps = [];
        waiters.shift()?.();
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  return {
    child,
    summaries,
    stderr: () => stderr,
    next: (count, ms = 120_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`kiln watch: no summary ${count} in ${ms} ms; stderr: ${stderr}`)), ms);
        const check = () => {
          if (summaries.length >= count) {
            clearTimeout(timer);
            resolve(summaries[count - 1]);
          } else waiters.push(check);
        };
        check();
      }),
    stop: () => new Promise((resolve) => {
      child.once("exit", (code) => resolve(code));
      child.kill("SIGINT");
    }),
  };
}

async function benchOne({ n, edits, rssRebuilds, jobs, work, fail, log }) {
  const dir = join(work, `watch-wide-${n}`);
  rmSync(dir, { recursive: true, force: true });
  const p = generate({ dir, n, shape: "wide", flavor: "cmd" });
  const cache = join(dir, "kiln-cache");
  const leafIndex = p.steps[p.leaf].index;
  const nonce = Date.now().toString(36);
  const check = (what) => {
    const want = expectedOutputs(p, p.contents);
    for (const k of [p.leaf, ...p.steps.map((_, i) => i).filter((i) => p.steps[i].deps.includes(p.leaf))]) {
      const got = readFileSync(join(p.dir, paths(p, k).out.kiln), "utf8");
      if (got !== want[k]) fail(`watch N=${n} ${what}: ${paths(p, k).out.kiln} differs from the expected output`);
    }
  };
  // ninja: the whole one-leaf rebuild, process start included.
  const ninjaDir = join(p.dir, "ninja");
  spawnSync("ninja", [`-j${jobs}`, "-C", ninjaDir], { stdio: "ignore" });
  const ninjaMs = [];
  for (let i = 0; i < edits; i++) {
    editLeaf(p, "change", `input ${leafIndex} ninja ${nonce}.${i}\n`);
    const t0 = performance.now();
    const r = spawnSync("ninja", [`-j${jobs}`, "-C", ninjaDir], { stdio: "ignore" });
    ninjaMs.push(performance.now() - t0);
    if (r.status !== 0) fail(`ninja failed on the one-leaf rebuild (N=${n})`);
  }

  const watch = startWatch(join(p.dir, "kiln"), cache, jobs);
  try {
    const first = await watch.next(1, 600_000);
    if (first.summary.executed !== p.steps.length) fail(`watch N=${n}: the first build executed ${first.summary.executed} of ${p.steps.length}`);
    const toFirstStep = [];
    const toSummary = [];
    let count = 1;
    const editAndWait = async (i) => {
      await new Promise((resolve) => setTimeout(resolve, 50)); // past the debounce of the last one
      editLeaf(p, "change", `input ${leafIndex} watch ${nonce}.${i}\n`);
      const t0 = performance.now();
      const rebuild = await watch.next(++count);
      if (rebuild.summary.executed !== p.affectedByLeaf) fail(`watch N=${n}: a leaf edit executed ${rebuild.summary.executed}, expected ${p.affectedByLeaf}`);
      const started = Math.min(...rebuild.steps.filter((s) => s.status === "executed").map((s) => s.at - s.ms));
      return { firstStep: started - t0, summary: rebuild.at - t0 };
    };
    for (let i = 0; i < edits; i++) {
      const r = await editAndWait(i);
      toFirstStep.push(r.firstStep);
      toSummary.push(r.summary);
    }
    check("after the timed edits");
    // RSS after each rebuild: V8 grows its heap in steps and GC brings it down again, so one
    // reading before and one after measure the sawtooth; the medians of the first and last tenth do not.
    const samples = [];
    for (let i = 0; i < rssRebuilds; i++) {
      await editAndWait(edits + i);
      samples.push(rssKb(watch.child.pid));
    }
    const tenth = Math.max(1, Math.floor(samples.length / 10));
    const rssBefore = median(samples.slice(0, tenth));
    const rssAfter = median(samples.slice(-tenth));
    check(`after ${rssRebuilds} more rebuilds`);
    const code = await watch.stop();
    if (code !== 0) fail(`kiln watch exited ${code} on SIGINT`);
    const row = { n, steps: p.steps.length, affected: p.affectedByLeaf, edits, ninja: median(ninjaMs), firstStep: median(toFirstStep), summary: median(toSummary), rssBefore, rssAfter, rssRebuilds };
    log(`watch N=${n}: write->first step ${row.firstStep.toFixed(0)} ms, write->summary ${row.summary.toFixed(0)} ms, ninja one-leaf ${row.ninja.toFixed(0)} ms; RSS ${Math.round(rssBefore / 1024)} -> ${Math.round(rssAfter / 1024)} MiB over ${rssRebuilds} rebuilds`);
    return row;
  } finally {
    if (watch.child.exitCode === null) watch.child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runWatchBench(o) {
  const plan = o.plan ?? (o.quick ? [{ n: 200, edits: 5, rssRebuilds: 20 }] : [{ n: 1000, edits: 15, rssRebuilds: 1000 }, { n: 10000, edits: 9, rssRebuilds: 50 }]);
  const rows = [];
  for (const c of plan) rows.push(await benchOne({ ...c, jobs: o.jobs, work: o.work, fail: o.fail, log: o.log }));
  writeSection(o, rows);
  return rows;
}

function writeSection(o, rows) {
  const head = ["steps", "edits", "write → first step ms", "write → summary ms", "ninja one-leaf ms", "summary/ninja", "RSS MiB", "rebuilds", "RSS growth"];
  const body = rows.map((r) => [
    r.steps.toLocaleString("en"),
    String(r.edits),
    r.firstStep.toFixed(0),
    r.summary.toFixed(0),
    r.ninja.toFixed(0),
    `${(r.summary / r.ninja).toFixed(2)}x`,
    `${Math.round(r.rssBefore / 1024)} → ${Math.round(r.rssAfter / 1024)}`,
    String(r.rssRebuilds),
    `${(((r.rssAfter - r.rssBefore) / r.rssBefore) * 100).toFixed(1)}%`,
  ]);
  const markdown = [head, head.map((_, c) => (c >= 1 ? "---:" : "---")), ...body].map((r) => `| ${r.join(" | ")} |`).join("\n");
  writeResultsSection(o.results, BEGIN, END, [
    "<!-- generated by bench/watch.mjs (npm run bench); edit outside the markers -->",
    `Watch, run ${new Date().toISOString()}${o.quick ? " (quick: a smoke test)" : ""}: \`kiln watch //...\` resident on the wide graph, one leaf's content changed per edit ` +
      "(2 steps rerun), medians over the edits. First step: the executed step's event time minus its duration. ninja: its whole one-leaf rebuild in the same run, process start included. " +
      "RSS: the watch process's median over the first and over the last tenth of the extra rebuilds (sampled after each).",
    "",
    markdown,
  ]);
}
