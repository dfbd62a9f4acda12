import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layering, enforced with ESLint's own no-restricted-imports (one rule, per-directory
 * overrides; no plugin or import resolver to keep in step): arrows point inward.
 *   core    imports nothing outside core, and no Node module;
 *   lab     never imports server or cli;
 *   server  never imports lab or cli; its backends (local, kube, kfp) never import one another,
 *           only the neutral common/ and the service's types and errors; the HTTP API (http/)
 *           imports no backend, only the services (service/, tensorboard/, analysis/);
 *           tensorboard/ and analysis/ import no run backend but kube's client;
 *   cli     imports core, its own files and the server only through server/index.ts.
 */
const NODE_MODULES = [
  'node:*',
  'fs',
  'fs/*',
  'path',
  'os',
  'child_process',
  'crypto',
  'http',
  'https',
  'net',
  'url',
  'util',
  'stream',
  'worker_threads'
];
const layer = (message, group) => ({
  'no-restricted-imports': ['error', { patterns: [{ group, message }] }]
});
const BACKENDS = ['local', 'kube', 'kfp'];
const backendRules = name =>
  layer(
    `the ${name} backend imports only core, server/common and the service's types and errors (backends never import one another)`,
    [
      '**/lab/**',
      '**/cli/**',
      ...BACKENDS.filter(b => b !== name).map(b => `**/${b}/**`),
      '**/service/*',
      '!**/service/types.js',
      '!**/service/errors.js'
    ]
  );

export const LAYERS = [
  {
    files: ['src/core/**/*.ts'],
    rules: layer(
      'core is pure TypeScript: it imports nothing outside src/core and no Node module',
      [
        ...NODE_MODULES,
        '@jupyterlab/*',
        '@lumino/*',
        '@kubernetes/*',
        '**/server/**',
        '**/cli/**',
        '**/lab/**'
      ]
    )
  },
  {
    files: ['src/lab/**/*.ts'],
    rules: layer('lab runs in the browser: it never imports server or cli', [
      ...NODE_MODULES,
      '**/server/**',
      '**/cli/**'
    ])
  },
  {
    files: ['src/server/**/*.ts'],
    rules: layer('server never imports lab or cli', ['**/lab/**', '**/cli/**'])
  },
  {
    files: ['src/server/common/**/*.ts'],
    rules: layer('server/common is neutral: it imports no backend and not the service', [
      '**/lab/**',
      '**/cli/**',
      ...BACKENDS.map(b => `**/${b}/**`),
      '**/service/**'
    ])
  },
  ...BACKENDS.map(name => ({
    files: [`src/server/${name}/**/*.ts`],
    rules: backendRules(name)
  })),
  {
    files: ['src/server/http/**/*.ts'],
    rules: layer(
      'the HTTP API is an adapter over the run service and the TensorBoard service: it imports no backend',
      ['**/lab/**', '**/cli/**', ...BACKENDS.map(b => `**/${b}/**`)]
    )
  },
  {
    files: ['src/server/tensorboard/**/*.ts', 'src/server/analysis/**/*.ts'],
    rules: layer(
      "TensorBoard and analysis are services beside the run service: they may use the cluster's client (kube), never a run backend's runner, the run service or the HTTP API",
      ['**/lab/**', '**/cli/**', '**/local/**', '**/kfp/**', '**/service/**', '**/http/**']
    )
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: layer('the CLI is a thin adapter: it imports the server only through server/index.js', [
      '**/server/**',
      '!**/server/index.js',
      '**/lab/**'
    ])
  }
];

export default tseslint.config(
  {
    ignores: [
      'lib/**',
      'node_modules/**',
      'src/core/generated/**',
      'src/lab/generated/**',
      'src/server/generated/**',
      'examples/**'
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
      eqeqeq: ['error', 'smart'],
      curly: ['error', 'all']
    }
  },
  ...LAYERS
);
