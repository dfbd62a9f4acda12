/** Jest runs the TypeScript sources as ES modules (ts-jest transpiles; `tsc -b` type-checks). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.spec.ts'],
  setupFiles: ['<rootDir>/tests/support/state.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tests/tsconfig.json' }]
  },
  testTimeout: 60000
};
