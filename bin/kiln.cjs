#!/bin/sh
":" //; if [ -n "${NODE_EXTRA_CA_CERTS-}" ]; then export KILN_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS" NODE_EXTRA_CA_CERTS=; fi; exec node "$0" "$@"

// The kiln command. The first two lines are a shell launcher and, to Node, a string and a comment:
// a Node 20 whose environment names NODE_EXTRA_CA_CERTS parses every bundled root certificate
// and that file before running any JavaScript, ~40 ms of a 62 ms start on the 2-core machine
// (bench/RESULTS.md). kiln makes no TLS connection, so the launcher hides the variable from Node
// and the code below puts it back for what kiln starts (step commands, workers).
//
// Then: built JavaScript, no TypeScript loader (see FINDINGS.md); first the no-op fast path alone,
// and the rest of kiln only if that did not answer, so an unchanged build loads almost nothing.
// CommonJS, not an ES module: Node starts an ES entry point ~7 ms slower, and node:module's
// createRequire costs ~7 ms more.
if (process.env.KILN_EXTRA_CA_CERTS !== undefined) {
  process.env.NODE_EXTRA_CA_CERTS = process.env.KILN_EXTRA_CA_CERTS;
  delete process.env.KILN_EXTRA_CA_CERTS;
}

const argv = process.argv.slice(2);
let fastPath;
let upToDate;
try {
  fastPath = require("../dist/cli/up-to-date.cjs");
  upToDate = fastPath.answerIfUpToDate(argv);
} catch {
  // main() checks again and reports the error the kiln way.
}

/**
 * Exits once both streams have flushed: process.exit() drops what a slow pipe has not taken yet
 * (--json output was cut at 64 KiB).
 */
function exitAfterFlush(code) {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
}

const runMain = (outcome) => require("../dist/cli/kiln.cjs").main(argv, outcome).then(exitAfterFlush);
if (upToDate?.code !== undefined) exitAfterFlush(upToDate.code);
// The workspace's kiln server builds it (src/server/server-client.ts); if it cannot, this process does.
else if (upToDate?.server) fastPath.buildOnServer(upToDate.server).then((code) => (code !== undefined ? exitAfterFlush(code) : runMain({ checked: false, serverTried: true })));
else runMain(upToDate);
