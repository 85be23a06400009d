import { describe, expect, it } from "vitest";
import type { ModelFile } from "../../examples/penguins/models/classifier.ts";
import type { ClassificationMetrics } from "../../examples/penguins/models/metrics.ts";
import { renderConfusionMatrixSvg } from "../../examples/penguins/reports/confusion-matrix-svg.ts";
import { escapeHtml } from "../../examples/penguins/reports/html.ts";
import { renderReport } from "../../examples/penguins/reports/render-report.ts";
import type { DataSummary } from "../../examples/penguins/reports/summary-file.ts";

const metrics: ClassificationMetrics = {
  accuracy: 0.9,
  perClass: {
    Adelie: { precision: 0.9, recall: 0.9, f1: 0.9, support: 10 },
    "<Emperor>": { precision: 0.9, recall: 0.9, f1: 0.9, support: 10 },
  },
  confusionMatrix: { labels: ["Adelie", "<Emperor>"], matrix: [[9, 1], [1, 9]] },
  trainAccuracy: 0.95,
  nTrain: 60,
  nTest: 20,
};
const model: ModelFile = {
  kind: "softmax-regression",
  classes: ["Adelie", "<Emperor>"],
  featureNames: ["beakLengthMm"],
  weights: [[1.5], [-0.001]],
  bias: [0, 0],
  encoding: {
    featureNames: ["beakLengthMm"],
    medians: { beakLengthMm: 40, beakDepthMm: 18, flipperLengthMm: 190, bodyMassG: 4000 },
    categories: { island: [], sex: [] },
    means: { beakLengthMm: 40, beakDepthMm: 18, flipperLengthMm: 190, bodyMassG: 4000 },
    stds: { beakLengthMm: 1, beakDepthMm: 1, flipperLengthMm: 1, bodyMassG: 1 },
  },
  training: { learningRate: 0.1, epochs: 10, l2: 0, finalLoss: 0.25 },
};
const summary: DataSummary = {
  count: 80,
  measurements: ["Body Mass (g)"],
  species: {
    Adelie: {
      count: 40,
      measurements: { "Body Mass (g)": { count: 39, missing: 1, mean: 3700.5, std: 458.6, min: 2850, max: 4775 } },
      islands: { Dream: 40 },
      sex: { FEMALE: 20, MALE: 20 },
    },
  },
};

describe("renderReport", () => {
  const html = renderReport({ metrics, model, summary });

  it("is a self-contained page: no scripts, links or external URLs besides the SVG namespace", () => {
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("<title>Penguin species classifier</title>");
    expect(html).not.toMatch(/<script|<link|src=/);
    expect(html.match(/https?:\/\/[^"]+/g)).toEqual(["http://www.w3.org/2000/svg"]);
  });

  it("shows the headline figures, the per-class table and the data summary", () => {
    expect(html).toContain('<div class="value">90.0%</div><div class="label">test accuracy</div>');
    expect(html).toContain("<td>0.900</td>");
    expect(html).toContain('<span class="nowrap">3,701 ± 459</span><br><small>2,850–4,775</small><br><small>1 missing</small>');
  });

  it("escapes text from the data", () => {
    expect(html).toContain("&lt;Emperor&gt;");
    expect(html).not.toContain("<Emperor>");
  });

  it("prints a weight that rounds to zero as 0.00, not -0.00", () => {
    expect(html).toContain(">0.00</td>");
    expect(html).not.toContain("-0.00");
  });

  it("is the same for the same inputs", () => {
    expect(renderReport({ metrics, model, summary })).toBe(html);
  });
});

describe("renderConfusionMatrixSvg", () => {
  it("writes every count in a cell shaded by its share of the row", () => {
    const svg = renderConfusionMatrixSvg({ labels: ["A", "B"], matrix: [[3, 1], [0, 4]] });
    const counts = [...svg.matchAll(/class="count"[^>]*>(\d+)</g)].map((m) => Number(m[1]));
    expect(counts).toEqual([3, 1, 0, 4]);
    expect(svg).toContain('<title>A predicted as B: 1</title>');
    // Full rows are the darkest blue, empty cells the lightest.
    expect(svg).toContain('fill="rgb(30, 64, 175)"');
    expect(svg).toContain('fill="rgb(239, 246, 255)"');
  });
});

describe("escapeHtml", () => {
  it("escapes the five characters that matter", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });
});
