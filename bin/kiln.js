#!/usr/bin/env node
// The kiln command: built JavaScript, no TypeScript loader at start-up (see FINDINGS.md). It loads
// the bundles tools/bundle-cli.mjs makes: first the no-op fast path alone, and the rest of kiln
// only if that did not answer, so an unchanged build loads almost nothing (bench/README.md).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
let upToDate;
try {
  upToDate = require("../dist/cli/up-to-date.cjs").answerIfUpToDate(argv);
} catch {
  // main() checks again and reports the error the kiln way.
}
const code = upToDate?.code ?? (await require("../dist/cli/kiln.cjs").main(argv, upToDate));
// process.exit() drops whatever a slow pipe has not taken yet (--json output was cut at 64 KiB):
// exit only once both streams have flushed.
let pending = 2;
const done = () => {
  if (--pending === 0) process.exit(code);
};
process.stdout.write("", done);
process.stderr.write("", done);
