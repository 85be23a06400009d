#!/usr/bin/env node
// The kiln command: built JavaScript, no TypeScript loader at start-up (see FINDINGS.md).
import { main } from "../dist/src/cli/main.js";

process.exit(await main(process.argv.slice(2)));
