#!/usr/bin/env node
import { main } from '../lib/src/cli/main.js';

main(process.argv.slice(2)).then(
  code => {
    process.exitCode = code;
  },
  error => {
    process.stderr.write(`chard: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
);
