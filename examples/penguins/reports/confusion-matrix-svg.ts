/**
 * The confusion matrix as an inline SVG: one square a (true, predicted) pair, shaded by the share
 * of that true class it holds, so a perfect classifier is a dark diagonal on white.
 */
import type { ConfusionMatrix } from "../models/metrics.ts";
import { escapeHtml, sequentialBlue, textColourOn } from "./html.ts";

const CELL = 84;
const LEFT = 120; // room for the true-class labels
const TOP = 64; // room for the predicted-class labels and the axis title

export function renderConfusionMatrixSvg({ labels, matrix }: ConfusionMatrix): string {
  const size = labels.length * CELL;
  const width = LEFT + size + 16;
  const height = TOP + size + 16;
  const parts: string[] = [];

  parts.push(
    `<text x="${LEFT + size / 2}" y="18" text-anchor="middle" class="axis">predicted</text>`,
    `<text x="18" y="${TOP + size / 2}" text-anchor="middle" class="axis" transform="rotate(-90 18 ${TOP + size / 2})">actual</text>`,
  );
  labels.forEach((label, i) => {
    parts.push(
      `<text x="${LEFT + i * CELL + CELL / 2}" y="${TOP - 12}" text-anchor="middle">${escapeHtml(label)}</text>`,
      `<text x="${LEFT - 10}" y="${TOP + i * CELL + CELL / 2}" text-anchor="end" dominant-baseline="middle">${escapeHtml(label)}</text>`,
    );
  });
  matrix.forEach((row, t) => {
    const rowTotal = row.reduce((sum, n) => sum + n, 0);
    row.forEach((count, p) => {
      const share = rowTotal === 0 ? 0 : count / rowTotal;
      const x = LEFT + p * CELL;
      const y = TOP + t * CELL;
      const title = `${labels[t]} predicted as ${labels[p]}: ${count}`;
      parts.push(
        `<g><title>${escapeHtml(title)}</title>` +
          `<rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="${sequentialBlue(share)}" stroke="#ffffff" stroke-width="2"/>` +
          `<text x="${x + CELL / 2}" y="${y + CELL / 2}" text-anchor="middle" dominant-baseline="middle" class="count" style="fill:${textColourOn(share)}">${count}</text></g>`,
      );
    });
  });

  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="confusion" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Confusion matrix">` +
    parts.join("") +
    `</svg>`
  );
}
