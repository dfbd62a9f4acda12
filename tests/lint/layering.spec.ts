/**
 * The layering lint rule (eslint.config.js): each deliberate violation fails, each allowed
 * import passes, and the real tree is clean.
 */
import { ESLint } from 'eslint';

const eslint = new ESLint({ cwd: process.cwd() });

/** The layering messages ESLint gives `code` as if it were the file `filePath`. */
async function violations(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport const used = x;\n`, { filePath });
  return result.messages.filter(m => m.ruleId === 'no-restricted-imports').map(m => m.message);
}

describe('the layering rule', () => {
  it.each([
    ['src/core/plan2.ts', "import * as x from 'node:fs';", /core is pure/],
    ['src/core/compile/x.ts', "import { x } from '../../server/index.js';", /core is pure/],
    ['src/core/x.ts', "import * as x from 'path';", /core is pure/],
    ['src/lab/x.ts', "import { x } from '../server/index.js';", /lab runs in the browser/],
    ['src/lab/x.ts', "import { x } from '../cli/main.js';", /lab runs in the browser/],
    ['src/server/kube/x.ts', "import { x } from '../local/runner.js';", /backends never/],
    ['src/server/kfp/x.ts', "import { x } from '../kube/monitor.js';", /backends never/],
    ['src/server/local/x.ts', "import { x } from '../kfp/run.js';", /backends never/],
    ['src/server/local/x.ts', "import { x } from '../service/service.js';", /backends never/],
    ['src/server/common/x.ts', "import { x } from '../local/processes.js';", /neutral/],
    ['src/server/x.ts', "import { x } from '../lab/panel.js';", /never imports lab/],
    ['src/server/http/x.ts', "import { x } from '../kube/client.js';", /imports no backend/],
    ['src/server/http/x.ts', "import { x } from '../local/runner.js';", /imports no backend/],
    [
      'src/server/tensorboard/x.ts',
      "import { x } from '../local/runner.js';",
      /never a run backend/
    ],
    [
      'src/server/tensorboard/x.ts',
      "import { x } from '../http/router.js';",
      /never a run backend/
    ],
    [
      'src/server/analysis/x.ts',
      "import { x } from '../service/service.js';",
      /never a run backend/
    ],
    ['src/cli/x.ts', "import { x } from '../server/local/runner.js';", /thin adapter/],
    ['src/cli/x.ts', "import { x } from '../server/service/service.js';", /thin adapter/]
  ])('%s: %s fails', async (file, code, message) => {
    const found = await violations(file, code);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it.each([
    ['src/core/x.ts', "import { x } from './plan.js';"],
    ['src/server/kube/x.ts', "import { x } from '../common/retry.js';"],
    ['src/server/kfp/x.ts', "import type { x } from '../service/types.js';"],
    ['src/server/local/x.ts', "import { x } from '../service/errors.js';"],
    ['src/server/service/x.ts', "import { x } from '../local/backend.js';"],
    ['src/server/http/x.ts', "import { x } from '../tensorboard/service.js';"],
    ['src/server/http/x.ts', "import { x } from '../service/service.js';"],
    ['src/server/tensorboard/x.ts', "import { x } from '../kube/client.js';"],
    ['src/cli/x.ts', "import { x } from '../server/index.js';"],
    ['src/cli/x.ts', "import { x } from '../core/index.js';"]
  ])('%s: %s passes', async (file, code) => {
    expect(await violations(file, code)).toEqual([]);
  });

  it('finds nothing in the source tree', async () => {
    const results = await eslint.lintFiles(['src/**/*.ts']);
    const found = results.flatMap(r =>
      r.messages
        .filter(m => m.ruleId === 'no-restricted-imports')
        .map(m => `${r.filePath}:${m.line}: ${m.message}`)
    );
    expect(found).toEqual([]);
  });
});
