/**
 * The opt-in sha256 value digest (step spec `valueDigest: "sha256"`): the manifest's sha256 is
 * the sha256 of the value file, what `sha256sum` prints; a consumer verifies exactly that before
 * any code runs, and reads values of either scheme whatever scheme it writes itself.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Scratch, chardError, expectOk, flipByte, stepSpec } from './harness.js';
import type { IStepSpec } from '../../src/core/stepspec.js';

const CHUNK = 64 * 1024 * 1024;
/** More than one 64 MiB chunk, so the producer hashes on its helper thread while it writes. */
const ELEMENTS = CHUNK / 8 + 100;

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

function withDigest(spec: IStepSpec, valueDigest: IStepSpec['valueDigest']): IStepSpec {
  return { ...spec, valueDigest };
}

describe('values saved with the sha256 digest', () => {
  const scratch = new Scratch();
  const producer = withDigest(
    stepSpec({
      step: 'make',
      code: [
        `import numpy as np\nbig = np.arange(${ELEMENTS}, dtype=np.float64)\n` +
          'small = np.arange(6, dtype=np.int16).reshape(2, 3)\n' +
          'meta = {"n": 1, "tags": ["a", "b"], "blob": bytes(range(256)) * 4}\n'
      ],
      outputs: ['big', 'meta', 'small']
    }),
    'sha256'
  );
  const consumer = stepSpec({
    step: 'use',
    code: [
      'big[0] = -1.0\n' +
        'print(big.shape, big[0], big[-1], small.tolist(), meta["n"], meta["tags"], len(meta["blob"]))'
    ],
    inputs: ['big', 'meta', 'small'],
    from: 'make'
  });
  const received = `(${ELEMENTS},) -1.0 ${ELEMENTS - 1}.0 [[0, 1, 2], [3, 4, 5]] 1 ['a', 'b'] 1024\n`;
  const dir = (name: string): string => join(scratch.data, 'make', name);
  const manifestOf = (name: string): Record<string, unknown> =>
    JSON.parse(readFileSync(join(dir(name), 'manifest.json'), 'utf8')) as Record<string, unknown>;

  beforeEach(async () => {
    rmSync(scratch.data, { recursive: true, force: true });
    expectOk(await scratch.run(producer));
  });
  afterAll(() => scratch.dispose());

  it('carry the sha256 of the whole value file (.npy header included) and no chunk list', async () => {
    for (const [name, file, type, backend] of [
      ['big', 'value.npy', 'numpy.ndarray', 'numpy'],
      ['small', 'value.npy', 'numpy.ndarray', 'numpy'],
      ['meta', 'value.pkl', 'builtins.dict', 'pickle']
    ]) {
      const bytes = readFileSync(join(dir(name), file));
      expect(manifestOf(name)).toEqual({
        name,
        type,
        backend,
        file,
        size: bytes.length,
        hash: 'sha256',
        sha256: sha256(bytes),
        step: 'make'
      });
    }
    expect(
      readFileSync(join(dir('big'), 'value.npy'))
        .subarray(0, 6)
        .toString('latin1')
    ).toBe('\x93NUMPY');
    expect(expectOk(await scratch.run(consumer)).stdout).toBe(received);
  });

  it('are refused, before any code runs, when one byte of the array changed', async () => {
    const file = join(dir('big'), 'value.npy');
    flipByte(file, CHUNK + 10);
    const run = await scratch.run(consumer);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(chardError(run).message).toBe(
      `input "big" from step "make" is corrupt: the sha256 of ${file} does not match its manifest`
    );
  });

  it('are refused, before any code runs, when one byte of the pickle changed', async () => {
    const file = join(dir('meta'), 'value.pkl');
    flipByte(file, 40);
    const run = await scratch.run(consumer);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.errLines).toContain(
      `chard: error: input "meta" from step "make" is corrupt: the sha256 of ${file} does not match its manifest`
    );
  });

  it('are refused when the manifest was changed to match nothing', async () => {
    const manifest = manifestOf('small');
    writeFileSync(
      join(dir('small'), 'manifest.json'),
      JSON.stringify({ ...manifest, sha256: (manifest.sha256 as string).toUpperCase() })
    );
    expect(chardError(await scratch.run(consumer)).message).toBe(
      `input "small" from step "make" has an invalid manifest ${join(dir('small'), 'manifest.json')}`
    );
  });
});

describe('a consumer', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('reads values of both schemes, whichever scheme it saves its own values with', async () => {
    const code = 'import numpy as np\narr = np.linspace(0, 1, 5)\nd = {"k": [1, 2]}\n';
    const crc = stepSpec({ step: 'crc', code: [code], outputs: ['arr', 'd'] });
    const sha = withDigest(
      stepSpec({ step: 'sha', code: [code], outputs: ['arr', 'd'] }),
      'sha256'
    );
    expectOk(await scratch.run(crc));
    expectOk(await scratch.run(sha));
    expect(
      JSON.parse(readFileSync(join(scratch.data, 'crc', 'arr', 'manifest.json'), 'utf8'))
    ).toMatchObject({
      hash: 'crc32-chunks-64MiB'
    });
    expect(
      JSON.parse(readFileSync(join(scratch.data, 'sha', 'd', 'manifest.json'), 'utf8'))
    ).toMatchObject({
      hash: 'sha256'
    });
    const inputs = [
      { name: 'arr', from: 'crc', fromId: 'crc' },
      { name: 'd', from: 'sha', fromId: 'sha' }
    ];
    for (const valueDigest of [undefined, 'crc32', 'sha256'] as const) {
      const consumer = withDigest(
        stepSpec({ step: 'use', code: ['print(arr.tolist(), d)\nout = d'], outputs: ['out'] }),
        valueDigest
      );
      const run = expectOk(await scratch.run({ ...consumer, inputs }));
      expect([valueDigest, run.stdout]).toEqual([
        valueDigest,
        "[0.0, 0.25, 0.5, 0.75, 1.0] {'k': [1, 2]}\n"
      ]);
      const written = join(scratch.data, 'use', 'out');
      expect(JSON.parse(readFileSync(join(written, 'manifest.json'), 'utf8')).hash).toBe(
        valueDigest === 'sha256' ? 'sha256' : 'crc32-chunks-64MiB'
      );
    }
    // Swapped manifests: each scheme is checked by its own rules, so both are refused.
    const crcArr = join(scratch.data, 'crc', 'arr', 'manifest.json');
    const shaArr = join(scratch.data, 'sha', 'arr', 'manifest.json');
    const crcText = readFileSync(crcArr, 'utf8');
    writeFileSync(crcArr, JSON.stringify({ ...JSON.parse(crcText), hash: 'sha256' }));
    const both = stepSpec({ step: 'use', code: ['print(arr)'], inputs: ['arr'], from: 'crc' });
    expect(chardError(await scratch.run(both)).message).toBe(
      `input "arr" from step "crc" is corrupt: the sha256 of ${join(scratch.data, 'crc', 'arr', 'value.npy')} does not match its manifest`
    );
    writeFileSync(
      crcArr,
      JSON.stringify({ ...JSON.parse(readFileSync(shaArr, 'utf8')), hash: 'crc32-chunks-64MiB' })
    );
    expect(chardError(await scratch.run(both)).message).toBe(
      `input "arr" from step "crc" has an invalid manifest ${crcArr}`
    );
  });

  it('names an integrity scheme it does not know and says to run the producer again', async () => {
    expectOk(await scratch.run(stepSpec({ step: 'make', code: ['x = [1]'], outputs: ['x'] })));
    const file = join(scratch.data, 'make', 'x', 'manifest.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...manifest, hash: 'blake3' }));
    const run = await scratch.run(
      stepSpec({ step: 'use', code: ['print(x)'], inputs: ['x'], from: 'make' })
    );
    expect(run.code).toBe(1);
    expect(chardError(run).message).toBe(
      `input "x" from step "make" has a manifest ${file} with the integrity scheme "blake3", which ` +
        'this version of Chard does not know (it knows "crc32-chunks-64MiB" and "sha256"); run ' +
        'step "make" again with this version'
    );
  });

  it('refuses a step spec asking for a digest it does not know (exit 2)', async () => {
    const spec = {
      ...stepSpec({ step: 'make', code: ['x = 1'], outputs: ['x'] }),
      valueDigest: 'md5'
    };
    const run = await scratch.run(spec as unknown as IStepSpec);
    expect(run.code).toBe(2);
    expect(run.errLines).toEqual([
      'chard: error: invalid step spec: valueDigest must be one of crc32, sha256, got "md5"'
    ]);
  });
});
