// One generated section of bench/RESULTS.md, between its markers: replaced in place when the
// file has them, appended otherwise, so each part of the benchmark rewrites only its own rows.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export function writeResultsSection(file, begin, end, lines) {
  const section = [begin, ...lines, end].join("\n");
  let text = existsSync(file) ? readFileSync(file, "utf8") : "# kiln benchmark results\n";
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  text = a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + end.length) : text.trimEnd() + "\n\n" + section + "\n";
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
