/**
 * What a value is stored as, and what its consumer needs: modules a step imported travel by
 * name and are imported again; a consumer that lacks the library a value was saved with (torch,
 * pyarrow, dill) fails with a message naming the library, before its code reads the value.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { FIXTURES, Scratch, chardError, expectOk, stepSpec } from './harness.js';

const INSTALL = "in this step's image (the producing step had it)";

function consumer(names: string[], code: string): ReturnType<typeof stepSpec> {
  return stepSpec({ step: 'use', code: [code], inputs: names, from: 'make' });
}

describe('modules imported inside a step', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('travel by name and are imported again by the consumer', async () => {
    const producer = stepSpec({
      step: 'make',
      code: ['import json as js\nfrom os import path as osp\n'],
      outputs: ['js', 'osp']
    });
    expectOk(await scratch.run(producer));
    const manifest = JSON.parse(
      readFileSync(join(scratch.data, 'make', 'js', 'manifest.json'), 'utf8')
    ) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      type: 'builtins.module',
      backend: 'module',
      module: 'json',
      file: 'value.module'
    });
    const use = consumer(
      ['js', 'osp'],
      'import json\nprint(js.dumps({"a": [1, 2]}), osp.join("a", "b"), js is json)'
    );
    expect(expectOk(await scratch.run(use)).stdout).toBe('{"a": [1, 2]} a/b True\n');
  });

  it('name the module when the consumer cannot import it', async () => {
    const producer = stepSpec({
      step: 'make',
      code: [
        'import os, sys\nos.makedirs("extra", exist_ok=True)\n' +
          'open("extra/helper_mod.py", "w").write("X = 1\\n")\n' +
          'sys.path.append(os.path.abspath("extra"))\nimport helper_mod as hm\n'
      ],
      outputs: ['hm']
    });
    expectOk(await scratch.run(producer));
    const run = await scratch.run(consumer(['hm'], 'print(hm.X)'));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(chardError(run).message).toBe(
      `input "hm" from step "make" (builtins.module) cannot be loaded: ` +
        `ModuleNotFoundError: No module named 'helper_mod'; install helper_mod ${INSTALL}`
    );
  });
});

describe('a consumer without the library a value was saved with', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  /** A value as a producer with that library would leave it (the library is not here). */
  function storeValue(name: string, backend: string, file: string, type: string): void {
    const dir = join(scratch.data, 'make', name);
    mkdirSync(dir, { recursive: true });
    const bytes = Buffer.from(`bytes ${backend} would read`);
    writeFileSync(join(dir, file), bytes);
    const chunks = [crc32(bytes).toString(16).padStart(8, '0')];
    const manifest = {
      name,
      type,
      backend,
      file,
      size: bytes.length,
      hash: 'crc32-chunks-64MiB',
      sha256: createHash('sha256').update(chunks.join('\n')).digest('hex'),
      chunks,
      step: 'make'
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  }

  it('torch', async () => {
    const producer = stepSpec({
      step: 'make',
      code: ['import torch\nt = torch.ones(3)'],
      outputs: ['t']
    });
    expectOk(await scratch.run(producer));
    const env = { PYTHONPATH: join(FIXTURES, 'without-torch') };
    const run = await scratch.run(consumer(['t'], 'print(t)'), [], { env });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(chardError(run).message).toBe(
      'input "t" from step "make" (torch.Tensor) cannot be loaded: ' +
        `ImportError: torch is hidden by the Chard runtime tests; install torch ${INSTALL}`
    );
  });

  it('parquet', async () => {
    storeValue('x', 'parquet', 'value.parquet', 'pandas.core.frame.DataFrame');
    const run = await scratch.run(consumer(['x'], 'print(x)'));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(chardError(run).message).toBe(
      'input "x" from step "make" (pandas.core.frame.DataFrame) cannot be loaded: ' +
        "ImportError: Missing optional dependency 'pyarrow'. pyarrow is required for parquet " +
        `support. Use pip or conda to install pyarrow.; install pyarrow ${INSTALL}`
    );
  });

  it('dill', async () => {
    // The runtime saves the notebook's functions with pickle; dill saves what pickle cannot.
    storeValue('square', 'dill', 'value.dill', 'builtins.function');
    const env = { PYTHONPATH: join(FIXTURES, 'without-dill') };
    const run = await scratch.run(consumer(['square'], 'print(square(3))'), [], { env });
    expect(run.code).toBe(1);
    expect(chardError(run).message).toBe(
      'input "square" from step "make" (builtins.function) cannot be loaded: ' +
        `ImportError: dill is hidden by the Chard runtime tests; install dill ${INSTALL}`
    );
  });
});
