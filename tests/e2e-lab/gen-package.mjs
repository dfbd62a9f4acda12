// Generate package.json for the end-to-end JupyterLab app from the npm package
// @jupyterlab/core-meta (which carries JupyterLab's own release package.json:
// extension list, resolutions, singletonPackages). No JupyterLab source is copied.
// usage: node gen-package.mjs [coreMetaVersion]   (then `npm install` to refresh package-lock.json)
// Keep the version equal to the root package.json's @jupyterlab/core-meta: Chard's prebuilt
// extension is built against that one.
/* global console, process */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const version = process.argv[2] || '4.6.4';
// Core plugins we do not want in the test app (need server parts we don't have).
const EXCLUDE = new Set([
  '@jupyterlab/extensionmanager-extension', // needs jupyterlab's /lab/api/extensions
  '@jupyterlab/pluginmanager-extension',   // needs jupyterlab's /lab/api/plugins
  '@jupyterlab/lsp-extension',             // needs jupyter-lsp
  '@jupyterlab/hub-extension',
  '@jupyterlab/debugger-extension'
]);
// Pins on top of core-meta's ranges (npm would otherwise pick newer, broken ones).
const PINS = {
  '@microsoft/fast-foundation': '2.49.4', // 2.50.0: endless "RangeError: Maximum call stack size exceeded"
  yjs: '13.5.49' // JupyterLab's release lock; 13.6.x logs "[yjs#509] Not same Y.Doc" / "Invalid access" warnings
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'core-meta-'));
execFileSync('npm', ['pack', `@jupyterlab/core-meta@${version}`, '--pack-destination', tmp], { stdio: 'ignore' });
execFileSync('tar', ['xzf', path.join(tmp, `jupyterlab-core-meta-${version}.tgz`), '-C', tmp]);
const core = JSON.parse(fs.readFileSync(path.join(tmp, 'package', 'core.package.json'), 'utf8'));
fs.rmSync(tmp, { recursive: true, force: true });

const keep = name => !EXCLUDE.has(name);
const extensions = Object.fromEntries(Object.entries(core.jupyterlab.extensions).filter(([k]) => keep(k)));
const mimeExtensions = Object.fromEntries(Object.entries(core.jupyterlab.mimeExtensions).filter(([k]) => keep(k)));
const dependencies = {};
for (const [k, v] of Object.entries(core.dependencies)) {
  if (keep(k)) {
    dependencies[k] = v;
  }
}
for (const k of ['react', 'react-dom']) {
  dependencies[k] = core.resolutions[k];
}

const overrides = {};
for (const [k, v] of Object.entries({ ...core.resolutions, ...PINS })) {
  overrides[k] = dependencies[k] ? '$' + k : v;
}

const pkg = {
  name: 'chard-e2e-lab',
  version: core.version,
  private: true,
  license: 'BSD-3-Clause',
  scripts: { build: 'rspack --config rspack.config.js' },
  dependencies: Object.fromEntries(Object.entries(dependencies).sort()),
  // Exact pins: the rspack toolchain is pinned as a whole (see the notes in README.md).
  devDependencies: {
    '@jupyter/builder': '1.2.3',
    '@rspack/cli': '2.2.8',
    '@rspack/core': '2.3.4',
    'css-loader': '7.1.4',
    'playwright-core': '1.65.1',
    'style-loader': '4.0.0'
  },
  overrides,
  // used by rspack.config.js (shared modules) and by build-labextension --core-path
  resolutions: core.resolutions,
  jupyterlab: {
    name: 'JupyterLab',
    version: core.version,
    extensions,
    mimeExtensions,
    singletonPackages: core.jupyterlab.singletonPackages,
    linkedPackages: {}
  }
};
fs.writeFileSync('package.json', JSON.stringify(pkg, null, 2) + '\n');
console.log(`package.json: ${Object.keys(extensions).length} extensions, ${Object.keys(mimeExtensions).length} mime extensions (core-meta ${core.version})`);
