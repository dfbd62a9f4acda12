#!/usr/bin/env node
import { main } from '../lib/src/cli/main.js';

// `chard ... | head` closes the pipe early: that is not an error.
process.stdout.on('error', error => {
  if (error.code === 'EPIPE') {
    process.exit(process.exitCode ?? 0);
  }
  throw error;
});

main(process.argv.slice(2)).then(
  code => {
    process.exitCode = code;
  },
  error => {
    process.stderr.write(`chard: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
);
