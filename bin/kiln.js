#!/usr/bin/env node
// The kiln command: built JavaScript, no TypeScript loader at start-up (see FINDINGS.md).
import { main } from "../dist/src/cli/main.js";

const code = await main(process.argv.slice(2));
// process.exit() drops whatever a slow pipe has not taken yet (--json output was cut at 64 KiB):
// exit only once both streams have flushed.
let pending = 2;
const done = () => {
  if (--pending === 0) process.exit(code);
};
process.stdout.write("", done);
process.stderr.write("", done);
