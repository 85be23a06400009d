/**
 * report.html: one self-contained page (inline CSS and SVG, no scripts, no external assets, no
 * timestamp, so the same inputs give the same bytes) with the classifier's test metrics, its
 * confusion matrix, its weights, and a per-species summary of the data.
 */
import type { ModelFile } from "../models/classifier.ts";
import type { ClassificationMetrics } from "../models/metrics.ts";
import { renderConfusionMatrixSvg } from "./confusion-matrix-svg.ts";
import { divergingRedBlue, escapeHtml, formatPercent, textColourOn } from "./html.ts";
import type { DataSummary, SpeciesSummary } from "./summary-file.ts";

export interface ReportInput {
  metrics: ClassificationMetrics;
  model: ModelFile;
  summary: DataSummary;
}

export function renderReport({ metrics, model, summary }: ReportInput): string {
  const species = Object.keys(metrics.perClass);
  const macroF1 = species.reduce((sum, label) => sum + metrics.perClass[label]!.f1, 0) / Math.max(1, species.length);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Penguin species classifier</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>Penguin species classifier</h1>
<p class="lede">A softmax regression that tells ${escapeHtml(listPhrase(species))} penguins apart from four body
measurements, the island and the sex, trained on ${metrics.nTrain} penguins of the Palmer Archipelago and
tested on ${metrics.nTest} it never saw.</p>
</header>

<section class="figures">
${figure("test accuracy", formatPercent(metrics.accuracy))}
${figure("train accuracy", formatPercent(metrics.trainAccuracy))}
${figure("macro F1", macroF1.toFixed(3))}
${figure("test / train penguins", `${metrics.nTest} / ${metrics.nTrain}`)}
</section>

<section>
<h2>How well each species is recognised</h2>
${renderPerClassTable(metrics)}
</section>

<section>
<h2>Confusion matrix</h2>
<p>Test penguins by actual species (rows) and predicted species (columns); shading is the share of the row.</p>
${renderConfusionMatrixSvg(metrics.confusionMatrix)}
</section>

<section>
<h2>What the model weighs</h2>
<p>Weight of each feature in each species' score. Measurements are standardised, so their weights compare:
blue pushes towards the species, red away from it.</p>
${renderWeightsTable(model)}
</section>

<section>
<h2>The data</h2>
<p>All ${summary.count} penguins of the source table, by species (mean ± standard deviation, range below).</p>
${renderSummaryTable(summary)}
</section>

<footer>
Built by kiln: <code>//models:classifier</code> (learning rate ${model.training.learningRate}, ${model.training.epochs} epochs,
L2 ${model.training.l2}, final loss ${model.training.finalLoss.toFixed(4)}) and <code>//features:summary</code>.
Data: Palmer Penguins (Gorman, Williams &amp; Fraser 2014; Horst, Hill &amp; Gorman), CC0.
</footer>
</main>
</body>
</html>
`;
}

function figure(label: string, value: string): string {
  return `<div class="figure"><div class="value">${escapeHtml(value)}</div><div class="label">${escapeHtml(label)}</div></div>`;
}

function renderPerClassTable(metrics: ClassificationMetrics): string {
  const rows = Object.entries(metrics.perClass).map(
    ([label, m]) =>
      `<tr><th scope="row">${escapeHtml(label)}</th><td>${m.precision.toFixed(3)}</td><td>${m.recall.toFixed(3)}</td>` +
      `<td>${m.f1.toFixed(3)}</td><td>${m.support}</td></tr>`,
  );
  return `<table class="numbers">
<thead><tr><th>species</th><th>precision</th><th>recall</th><th>F1</th><th>test penguins</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
}

/** Features down, species across: nine features fit a page that way round. */
function renderWeightsTable(model: ModelFile): string {
  const largest = Math.max(...model.weights.flat().map(Math.abs), 1e-12);
  const header = model.classes.map((label) => `<th>${escapeHtml(label)}</th>`).join("");
  const rows = model.featureNames.map((feature, j) => {
    const cells = model.classes.map((_, k) => {
      const weight = model.weights[k]![j]!;
      const t = weight / largest;
      // `+ 0` turns a -0 from rounding into 0, so a tiny negative weight does not print as "-0.00".
      const shown = (Math.round(weight * 100) / 100 + 0).toFixed(2);
      return `<td style="background:${divergingRedBlue(t)};color:${textColourOn(t)}">${shown}</td>`;
    });
    return `<tr><th scope="row"><code>${escapeHtml(feature)}</code></th>${cells.join("")}</tr>`;
  });
  return `<table class="numbers weights">
<thead><tr><th>feature</th>${header}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table>`;
}

function renderSummaryTable(summary: DataSummary): string {
  const header = ["species", "penguins", ...summary.measurements, "islands", "sex"].map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const rows = Object.entries(summary.species)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, s]) => {
      const measurements = summary.measurements.map((column) => `<td>${renderColumnSummary(s, column)}</td>`);
      return (
        `<tr><th scope="row">${escapeHtml(label)}</th><td>${s.count}</td>${measurements.join("")}` +
        `<td class="counts">${renderCounts(s.islands)}</td><td class="counts">${renderCounts(s.sex)}</td></tr>`
      );
    });
  return `<div class="scroll"><table class="numbers summary">
<thead><tr>${header}</tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
</table></div>`;
}

function renderColumnSummary(species: SpeciesSummary, column: string): string {
  const c = species.measurements[column];
  if (c === undefined || c.mean === undefined) return "—";
  const missing = c.missing > 0 ? `<br><small>${c.missing} missing</small>` : "";
  // Grams run to thousands: whole numbers there; millimetres keep one decimal.
  const format = (value: number) => (Math.abs(c.mean!) >= 1000 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1));
  return (
    `<span class="nowrap">${format(c.mean)} ± ${format(c.std ?? 0)}</span>` +
    `<br><small>${format(c.min ?? c.mean)}–${format(c.max ?? c.mean)}</small>${missing}`
  );
}

function renderCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([value, n]) => `${escapeHtml(value)}&nbsp;${n}`)
    .join("<br>");
}

function listPhrase(items: readonly string[]): string {
  if (items.length <= 2) return items.join(" and ");
  return `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

const STYLE = `
:root { color-scheme: light; --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --accent: #1e40af; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f9fafb; }
main { max-width: 980px; margin: 0 auto; padding: 32px 24px 48px; background: #ffffff; min-height: 100vh; }
h1 { margin: 0 0 8px; font-size: 28px; }
h2 { margin: 36px 0 8px; font-size: 19px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.lede { color: var(--muted); max-width: 46em; margin: 0; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 24px; }
.figure { flex: 1 1 160px; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.figure .value { font-size: 26px; font-weight: 650; color: var(--accent); font-variant-numeric: tabular-nums; }
.figure .label { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { font-size: 13px; color: var(--muted); font-weight: 600; }
table.numbers td { text-align: right; font-variant-numeric: tabular-nums; }
table.numbers td.counts { text-align: left; }
table.weights td { min-width: 88px; }
.nowrap { white-space: nowrap; }
small { color: var(--muted); }
.scroll { overflow-x: auto; }
svg.confusion text { font: 14px system-ui, sans-serif; fill: var(--ink); }
svg.confusion text.axis { fill: var(--muted); font-size: 13px; }
svg.confusion text.count { font-size: 20px; font-weight: 600; }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; }
`;
