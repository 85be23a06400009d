/**
 * The little HTML the report needs: escaping, and shading a cell by a value. Every piece of text
 * from data goes through `escapeHtml`, so a species called `<b>` stays text.
 */

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

/** A blue of intensity `t` in [0, 1], from near-white to deep blue. */
export function sequentialBlue(t: number): string {
  const clamped = Math.min(1, Math.max(0, t));
  return mixRgb([239, 246, 255], [30, 64, 175], clamped);
}

/** Red for negative, blue for positive, white at zero; `t` in [-1, 1]. */
export function divergingRedBlue(t: number): string {
  const clamped = Math.min(1, Math.max(-1, t));
  return clamped < 0 ? mixRgb([255, 255, 255], [185, 28, 28], -clamped) : mixRgb([255, 255, 255], [29, 78, 216], clamped);
}

/** Text colour readable on a background of intensity `t`. */
export function textColourOn(t: number): string {
  return Math.abs(t) > 0.55 ? "#ffffff" : "#111827";
}

function mixRgb(from: readonly number[], to: readonly number[], t: number): string {
  const channel = (i: number) => Math.round(from[i]! + (to[i]! - from[i]!) * t);
  return `rgb(${channel(0)}, ${channel(1)}, ${channel(2)})`;
}

export function formatPercent(fraction: number, digits = 1): string {
  return `${(fraction * 100).toFixed(digits)}%`;
}
