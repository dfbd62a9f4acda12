/** Jest runs the TypeScript sources as ES modules (ts-jest transpiles; `tsc -b` type-checks). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// The run index of the runs tests start (and of the `chard` processes they spawn, which inherit
// it), never the user's ~/.local/state.
process.env.CHARD_STATE_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), 'chard-state-'));

export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.spec.ts'],
  // The cluster stage has its own configuration (jest.cluster.config.js, npm run test:cluster).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/tests/cluster/'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // JupyterLab's icons (SVG files its packages import as text), for lab tests that load them.
    '\\.svg$': '<rootDir>/tests/support/svg.cjs'
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tests/tsconfig.json' }]
  },
  testTimeout: 60000,
  // A test that fails half way can leave a run's process behind; the report must still come out
  // and the stage end (a hang here once held CI until its deadline). Leaks show with
  // `--detectOpenHandles`.
  forceExit: true
};
