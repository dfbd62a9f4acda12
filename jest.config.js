/** Jest runs the TypeScript sources as ES modules (ts-jest transpiles; `tsc -b` type-checks). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.spec.ts'],
  // The cluster stage has its own configuration (jest.cluster.config.js, npm run test:cluster).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/tests/cluster/'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tests/tsconfig.json' }]
  },
  testTimeout: 60000
};
