import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { checkImports, importedModules, resolvePython } from '../../../src/server/local/python.js';
import { writeNotebook } from './support.js';

describe('resolvePython', () => {
  const saved = process.env.JUPYTER_PATH;
  afterEach(() => {
    process.env.JUPYTER_PATH = saved;
  });

  it("uses the interpreter of the notebook's kernel, found in the kernel directories", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-kernels-'));
    fs.mkdirSync(path.join(root, 'kernels', 'churn-env'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'kernels', 'churn-env', 'kernel.json'),
      JSON.stringify({
        argv: ['/usr/bin/python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
        language: 'python'
      })
    );
    process.env.JUPYTER_PATH = root;
    const choice = await resolvePython({ kernelspec: { name: 'churn-env' } }, undefined);
    expect(choice).toEqual({ command: '/usr/bin/python3', source: 'kernel "churn-env"' });
  });

  it('prefers an explicit --python, and falls back to python3 for an unknown kernel', async () => {
    expect(
      (await resolvePython({ kernelspec: { name: 'python3' } }, '/usr/bin/python3')).source
    ).toBe('--python');
    const fallback = await resolvePython({ kernelspec: { name: 'no-such-kernel' } }, undefined);
    expect(fallback.source).toBe('python3 on PATH');
    await expect(resolvePython({}, '/nowhere/python9')).rejects.toThrow(
      '--python /nowhere/python9: no such executable'
    );
  });
});

describe('importedModules', () => {
  it('reads import statements the way Python does, not lines that merely look like them', () => {
    const { dir, plan } = writeNotebook(
      [
        {
          tags: ['imports'],
          source:
            'import os.path as osp, json; import csv\n' +
            'from collections.abc import (\n    Mapping,\n    Sequence)\n' +
            'try:\n    import chard_optional_a\nexcept ImportError:\n    chard_optional_a = None\n' +
            '%matplotlib inline\n!pip install chard_shell_only'
        },
        {
          tags: ['functions'],
          source:
            'def load(path):\n    import gzip\n    return gzip.open(path).read()\n' +
            'NOTE = """\nimport chard_in_a_string\n"""  # import chard_in_a_comment'
        },
        { tags: ['step:a'], source: 'from . import sibling\nfrom .pkg import thing\nx = 1' },
        { tags: ['step:b', 'prev:a'], source: '%%bash\nimport chard_in_bash' },
        { tags: ['step:c', 'prev:a'], source: 'from helpers import f\nimport localpkg.sub\ny = x' }
      ],
      { 'helpers.py': 'def f():\n    return 1\n', 'localpkg/__init__.py': '' }
    );
    expect(importedModules(plan, dir)).toEqual(['collections', 'csv', 'gzip', 'json', 'os']);
  });
});

describe('checkImports', () => {
  it('names the missing modules and the interpreter that has them', async () => {
    const { dir, plan } = writeNotebook(
      [
        {
          tags: ['imports'],
          source:
            'import numpy as np\nimport pandas as pd, json\nfrom sklearn.linear_model import LogisticRegression\nimport helpers'
        },
        { tags: ['step:a'], source: 'x = helpers.f()' }
      ],
      { 'helpers.py': 'def f():\n    return 1\n' }
    );
    expect(importedModules(plan, dir)).toEqual(['json', 'numpy', 'pandas', 'sklearn']);
    // a Python without the Debian packages (no site directories), like the pyenv build here
    const bare = path.join(dir, 'bare-python');
    fs.writeFileSync(bare, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n', { mode: 0o755 });
    expect(
      await checkImports({ command: bare, source: 'python3 on PATH' }, importedModules(plan, dir))
    ).toBe(
      `${bare} (python3 on PATH) cannot import numpy, pandas, sklearn; /usr/bin/python3 can: run with --python /usr/bin/python3`
    );
    const message = await checkImports({ command: '/usr/bin/python3', source: '--python' }, [
      'json',
      'chard_no_such_module'
    ]);
    expect(message).toBe(
      '/usr/bin/python3 (--python) cannot import chard_no_such_module; install them ' +
        '(/usr/bin/python3 -m pip install chard_no_such_module) or choose another interpreter with --python PATH'
    );
    expect(
      await checkImports({ command: '/usr/bin/python3', source: '--python' }, ['json', 'numpy'])
    ).toBeNull();
  });
});
