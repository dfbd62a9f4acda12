// Bundles Chard's Node backend (src/server/main.ts: the HTTP API the Jupyter server extension
// starts) into one self-contained ES module (its analysis worker threads run the same file), and
// copies the Python step runtime beside it: jupyterlab_chard/backend/ is what the wheel
// ships (see pyproject.toml). Run by `npm run build`.
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'jupyterlab_chard/backend');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
mkdirSync(out, { recursive: true });
const common = {
  tsconfig: join(root, 'src/server/tsconfig.json'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
  // The run service's CommonJS dependencies (yaml, @kubernetes/client-node ...) require Node's
  // built-in modules: give the ES module bundle a `require` that can.
  banner: {
    js: "import { createRequire as __chardCreateRequire } from 'node:module';\nconst require = __chardCreateRequire(import.meta.url);"
  }
};
await build({
  ...common,
  entryPoints: [join(root, 'src/server/main.ts')],
  outfile: join(out, 'chard-backend.mjs'),
  define: { CHARD_BUNDLE: JSON.stringify({ version }) }
});
rmSync(join(out, 'analysis-worker.mjs'), { force: true });
rmSync(join(out, 'runtime'), { recursive: true, force: true });
cpSync(join(root, 'src/runtime'), join(out, 'runtime'), {
  recursive: true,
  filter: src => !src.includes('__pycache__')
});
