/**
 * Values between steps: every numpy layout round-trips, damaged or missing values are refused
 * with a message naming the variable and its producer, writes leave no partial files, the
 * --input/--output/--data-dir overrides work, and notebook-defined code travels.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { FIXTURES, Scratch, chardError, expectOk, flipByte, stepSpec } from './harness.js';

const NUMPY_VALUES = `import numpy as np
c = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
f = np.asfortranarray(np.linspace(0, 1, 12).reshape(3, 4))
strided = np.arange(40.0).reshape(5, 8)[::2, 1::3]
scalar = np.array(3.5)
empty = np.zeros((0, 5), dtype=np.float32)
records = np.array([(1, 2.5, b"ab"), (2, -1.0, b"cd")], dtype=[("id", "<i8"), ("v", ">f4"), ("tag", "S2")])
objects = np.array([{"a": 1}, None, "text"], dtype=object)
big_endian = np.arange(5, dtype=">u2")
values = dict(c=c, f=f, strided=strided, scalar=scalar, empty=empty, records=records, objects=objects, big_endian=big_endian)
`;

const NAMES = ['big_endian', 'c', 'empty', 'f', 'objects', 'records', 'scalar', 'strided'];

const DESCRIBE = `import json
def describe(v):
    return {"type": type(v).__name__, "dtype": str(v.dtype), "shape": list(v.shape),
            "fortran": bool(v.flags.f_contiguous and not v.flags.c_contiguous),
            "writeable": bool(v.flags.writeable), "repr": repr(v.tolist())}
`;

describe('numpy values', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('round-trip every layout and dtype; object arrays go through pickle', async () => {
    const names = NAMES.join(', ');
    const producer = stepSpec({
      step: 'producer',
      code: [
        NUMPY_VALUES,
        DESCRIBE,
        `open("sent.json", "w").write(json.dumps({k: describe(v) for k, v in values.items()}))`
      ],
      outputs: NAMES
    });
    expectOk(await scratch.run(producer));
    const consumer = stepSpec({
      step: 'consumer',
      code: [
        DESCRIBE,
        `got = dict(zip("${names}".split(", "), [${names}]))\nc[0, 0, 0] = 99\nopen("got.json", "w").write(json.dumps({k: describe(v) for k, v in got.items()}))`
      ],
      inputs: NAMES
    });
    expectOk(await scratch.run(consumer));
    const sent = JSON.parse(readFileSync(join(scratch.work, 'sent.json'), 'utf8')) as Record<
      string,
      { repr: string }
    >;
    const got = JSON.parse(readFileSync(join(scratch.work, 'got.json'), 'utf8')) as Record<
      string,
      { repr: string }
    >;
    sent.c.repr = sent.c.repr.replace('[[[0,', '[[[99,');
    expect(got).toEqual(sent);
    const backend = (name: string): string =>
      (
        JSON.parse(readFileSync(join(scratch.data, 'producer', name, 'manifest.json'), 'utf8')) as {
          backend: string;
        }
      ).backend;
    expect(NAMES.map(backend)).toEqual([
      'numpy',
      'numpy',
      'numpy',
      'numpy',
      'pickle',
      'numpy',
      'numpy',
      'numpy'
    ]);
    const files = readdirSync(join(scratch.data, 'producer', 'c'));
    expect(files.sort()).toEqual(['manifest.json', 'value.npy']);
  });
});

describe('damaged, missing and half-written values', () => {
  const scratch = new Scratch();
  const producer = stepSpec({
    step: 'prepare',
    code: ['import numpy as np\nweights = np.ones(1000)\nlabels = {"a": [1, 2, 3]}\n'],
    outputs: ['labels', 'weights']
  });
  const consumer = (names: string[]): ReturnType<typeof stepSpec> =>
    stepSpec({
      step: 'consume',
      code: ['print("user code ran")'],
      inputs: names,
      from: 'prepare'
    });

  beforeEach(async () => {
    rmSync(scratch.data, { recursive: true, force: true });
    expectOk(await scratch.run(producer));
  });
  afterAll(() => scratch.dispose());

  it('refuses a .npy whose bytes changed (same size) before any code runs', async () => {
    const file = join(scratch.data, 'prepare', 'weights', 'value.npy');
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] ^= 0x40;
    writeFileSync(file, bytes);
    const run = await scratch.run(consumer(['weights']));
    expect(run.code).toBe(1);
    expect(run.stdout).not.toContain('user code ran');
    expect(chardError(run).message).toBe(
      `input "weights" from step "prepare" is corrupt: the CRC-32 of chunk 1 of 1 of ${file} does not match its manifest`
    );
  });

  it('refuses a truncated pickle', async () => {
    const file = join(scratch.data, 'prepare', 'labels', 'value.pkl');
    truncateSync(file, 10);
    const run = await scratch.run(consumer(['labels']));
    expect(run.code).toBe(1);
    expect(chardError(run).message).toMatch(
      /^input "labels" from step "prepare" is corrupt: .* has 10 bytes, the manifest says \d+$/
    );
  });

  it('refuses a value whose producer never finished (a temp file, no manifest)', async () => {
    const dir = join(scratch.data, 'prepare', 'labels');
    rmSync(join(dir, 'manifest.json'));
    writeFileSync(join(dir, '.value.pkl.abc.tmp'), 'partial');
    const run = await scratch.run(consumer(['labels']));
    expect(run.code).toBe(1);
    expect(run.errLines.filter(l => l.startsWith('chard: error:'))).toEqual([
      `chard: error: input "labels" from step "prepare" is missing: no ${join(dir, 'manifest.json')} (did step "prepare" run and succeed?)`
    ]);
  });

  it('refuses a manifest that points outside the value directory', async () => {
    const manifest = join(scratch.data, 'prepare', 'labels', 'manifest.json');
    const data = JSON.parse(readFileSync(manifest, 'utf8')) as Record<string, unknown>;
    writeFileSync(manifest, JSON.stringify({ ...data, file: '../weights/value.npy' }));
    const run = await scratch.run(consumer(['labels']));
    expect(run.code).toBe(1);
    expect(chardError(run).message).toBe(
      `input "labels" from step "prepare" has an invalid manifest ${manifest}`
    );
  });

  it('replaces a value atomically when the producer runs again, leaving no stray files', async () => {
    const again = stepSpec({
      ...producer,
      step: 'prepare',
      code: ['labels = [4, 5]\nweights = "now a string"\n']
    });
    expectOk(await scratch.run(again));
    expect(readdirSync(join(scratch.data, 'prepare', 'weights')).sort()).toEqual([
      'manifest.json',
      'value.pkl'
    ]);
    const run = expectOk(
      await scratch.run(
        stepSpec({ ...consumer(['labels', 'weights']), code: ['print(labels, weights)'] })
      )
    );
    expect(run.stdout).toBe('[4, 5] now a string\n');
  });
});

describe('where values live', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('honours --output/--input directories (KFP artifacts) and --data-dir', async () => {
    const artifact = join(scratch.root, 'artifact-x');
    const producer = stepSpec({
      step: 'make',
      code: ['import pandas as pd\nx = pd.Series([1.5, 2.5], name="s")'],
      outputs: ['x']
    });
    expectOk(await scratch.run(producer, ['--output', `x=${artifact}`]));
    expect(readdirSync(artifact).sort()).toEqual(['manifest.json', 'value.pkl']);
    const consumer = stepSpec({
      step: 'use',
      code: ['print(x.name, x.sum())'],
      inputs: ['x'],
      from: 'make'
    });
    expect(expectOk(await scratch.run(consumer, ['--input', `x=${artifact}`])).stdout).toBe(
      's 4.0\n'
    );
  });
});

describe('code defined in the notebook', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());
  const FUNCTIONS = 'class Box:\n    def __init__(self, v):\n        self.v = v\n';
  const makeBox = (v: number): ReturnType<typeof stepSpec> =>
    stepSpec({ step: 'make', code: [FUNCTIONS, `box = Box(${v})`], outputs: ['box'] });

  /** Neither dill nor cloudpickle: the standard library alone. */
  const STDLIB_ONLY = {
    PYTHONPATH: [join(FIXTURES, 'without-dill'), join(FIXTURES, 'without-cloudpickle')].join(':')
  };

  it('passes closures, lambdas and recursive functions by value with the standard library', async () => {
    const producer = stepSpec({
      step: 'make',
      code: [
        'def scaler(k):\n    def scale(v):\n        return v * k\n    return scale\n' +
          'triple = scaler(3)\nsquare = lambda v: v * v\n' +
          'def fact(n):\n    return 1 if n <= 1 else n * fact(n - 1)\n'
      ],
      outputs: ['fact', 'square', 'triple']
    });
    expectOk(await scratch.run(producer, [], { env: STDLIB_ONLY }));
    const manifest = JSON.parse(
      readFileSync(join(scratch.data, 'make', 'triple', 'manifest.json'), 'utf8')
    ) as Record<string, unknown>;
    expect(manifest.backend).toBe('pickle');
    const consumer = stepSpec({
      step: 'use',
      code: ['print(triple(5), square(4), fact(5))'],
      inputs: ['fact', 'square', 'triple'],
      from: 'make'
    });
    expect(expectOk(await scratch.run(consumer, [], { env: STDLIB_ONLY })).stdout).toBe(
      '15 16 120\n'
    );
  });

  it('passes an instance of a class only the producing step defines, by value', async () => {
    const producer = stepSpec({
      step: 'count',
      code: [
        'class Acc:\n    """Counts."""\n    def __init__(self):\n        self.total = 0\n' +
          '    def add(self, v):\n        self.total += v\n        return self\n' +
          '    @property\n    def double(self):\n        return self.total * 2\n' +
          '    @staticmethod\n    def zero():\n        return Acc()\n\n' +
          'class Weighted(Acc):\n    def add(self, v):\n        return super().add(v * 10)\n\n' +
          'acc = Acc().add(3).add(4)\nweighted = Weighted().add(1)'
      ],
      outputs: ['acc', 'weighted']
    });
    expectOk(await scratch.run(producer, [], { env: STDLIB_ONLY }));
    const consumer = stepSpec({
      step: 'use',
      code: [
        'acc.add(5)\nprint(acc.total, acc.double, type(acc).__name__, Acc.__doc__)\n' +
          'print(weighted.add(2).total, isinstance(weighted, Acc), Acc.zero().total)'
      ],
      inputs: ['acc', 'weighted'],
      from: 'count'
    });
    const run = expectOk(await scratch.run(consumer, [], { env: STDLIB_ONLY }));
    expect(run.stdout).toBe('12 24 Acc Counts.\n30 True 0\n');
  });

  it('loads an instance of a notebook class once the functions cell has defined the class', async () => {
    expectOk(await scratch.run(makeBox(7)));
    const functions = `${FUNCTIONS}\ndef unbox():\n    return box.v\n\nBOX_TYPE = Box\n`;
    const consumer = stepSpec({
      step: 'use',
      code: [functions, 'print(unbox(), type(box) is BOX_TYPE, isinstance(box, Box))'],
      inputs: ['box'],
      from: 'make'
    });
    expect(expectOk(await scratch.run(consumer)).stdout).toBe('7 True True\n');
  });

  it('loads an instance whose class the consuming step does not define (it travels by value)', async () => {
    expectOk(await scratch.run(makeBox(2)));
    const consumer = stepSpec({
      step: 'use',
      code: ['print(box.v, type(box).__name__)'],
      inputs: ['box'],
      from: 'make'
    });
    expect(expectOk(await scratch.run(consumer)).stdout).toBe('2 Box\n');
  });
});

describe('numpy values larger than one 64 MiB checksum chunk', () => {
  const scratch = new Scratch();
  const CHUNK = 64 * 1024 * 1024;
  const ELEMENTS = CHUNK / 8 + 100;
  const producer = stepSpec({
    step: 'make',
    code: [`import numpy as np\nbig = np.arange(${ELEMENTS}, dtype=np.float64)\nmeta = {"n": 1}\n`],
    outputs: ['big', 'meta']
  });
  const consumer = stepSpec({
    step: 'use',
    code: ['big[0] = -1.0\nprint(big.shape, big[0], big[-1], float(big[1:].sum()), meta)'],
    inputs: ['big', 'meta'],
    from: 'make'
  });
  const received = `(${ELEMENTS},) -1.0 ${ELEMENTS - 1}.0 ${((ELEMENTS - 1) * ELEMENTS) / 2}.0 {'n': 1}\n`;
  const dir = (): string => join(scratch.data, 'make', 'big');
  const readManifest = (): Record<string, unknown> =>
    JSON.parse(readFileSync(join(dir(), 'manifest.json'), 'utf8')) as Record<string, unknown>;

  beforeEach(async () => {
    rmSync(scratch.data, { recursive: true, force: true });
    expectOk(await scratch.run(producer));
  });
  afterAll(() => scratch.dispose());

  it('are stored with the CRC-32 of each chunk and a sha256 over the list, and arrive whole', async () => {
    const bytes = readFileSync(join(dir(), 'value.npy'));
    expect(bytes.length).toBe(128 + ELEMENTS * 8);
    const chunks = [bytes.subarray(0, CHUNK), bytes.subarray(CHUNK)].map(c =>
      crc32(c).toString(16).padStart(8, '0')
    );
    expect(readManifest()).toEqual({
      name: 'big',
      type: 'numpy.ndarray',
      backend: 'numpy',
      file: 'value.npy',
      size: bytes.length,
      hash: 'crc32-chunks-64MiB',
      sha256: createHash('sha256').update(chunks.join('\n')).digest('hex'),
      chunks,
      step: 'make'
    });
    expect(expectOk(await scratch.run(consumer)).stdout).toBe(received);
  });

  it('refuses a byte changed in the second chunk, naming the chunk', async () => {
    const file = join(dir(), 'value.npy');
    flipByte(file, CHUNK + 10);
    const run = await scratch.run(consumer);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(chardError(run).message).toBe(
      `input "big" from step "make" is corrupt: the CRC-32 of chunk 2 of 2 of ${file} does not match its manifest`
    );
  });

  it('refuses a manifest whose chunk list does not match its digest', async () => {
    const manifest = readManifest();
    const chunks = manifest.chunks as string[];
    writeFileSync(
      join(dir(), 'manifest.json'),
      JSON.stringify({ ...manifest, chunks: [chunks[1], chunks[0]] })
    );
    const run = await scratch.run(consumer);
    expect(chardError(run).message).toBe(
      `input "big" from step "make" has an invalid manifest ${join(dir(), 'manifest.json')}`
    );
  });

  it('are read into memory and verified where files cannot be mapped', async () => {
    const env = { PYTHONPATH: join(FIXTURES, 'without-mmap') };
    expect(expectOk(await scratch.run(consumer, [], { env })).stdout).toBe(received);
    flipByte(join(dir(), 'value.npy'), 5000);
    flipByte(join(scratch.data, 'make', 'meta', 'value.pkl'), 20);
    const run = await scratch.run(consumer, [], { env });
    expect(chardError(run).message).toMatch(
      /^input "meta" from step "make" is corrupt: the CRC-32 of chunk 1 of 1 of .*value\.pkl does not match its manifest$/
    );
    const bigOnly = stepSpec({
      step: 'use',
      code: ['print(big[0])'],
      inputs: ['big'],
      from: 'make'
    });
    expect(chardError(await scratch.run(bigOnly, [], { env })).message).toMatch(
      /the CRC-32 of chunk 1 of 2 of .*value\.npy/
    );
  });
});

describe('pickled values', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('carry the CRC-32 of each 64 MiB chunk, computed as the pickle is written', async () => {
    const CHUNK = 64 * 1024 * 1024;
    const producer = stepSpec({
      step: 'make',
      code: [`blob = bytes(range(256)) * (${CHUNK} // 256 + 4)\nsmall = {"a": [1, 2]}\n`],
      outputs: ['blob', 'small']
    });
    expectOk(await scratch.run(producer));
    for (const name of ['blob', 'small']) {
      const dir = join(scratch.data, 'make', name);
      const bytes = readFileSync(join(dir, 'value.pkl'));
      const pieces = [];
      for (let start = 0; start < bytes.length; start += CHUNK) {
        pieces.push(bytes.subarray(start, start + CHUNK));
      }
      const chunks = pieces.map(p => crc32(p).toString(16).padStart(8, '0'));
      expect(chunks).toHaveLength(name === 'blob' ? 2 : 1);
      expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))).toMatchObject({
        backend: 'pickle',
        size: bytes.length,
        hash: 'crc32-chunks-64MiB',
        chunks,
        sha256: createHash('sha256').update(chunks.join('\n')).digest('hex')
      });
    }
    const consumer = stepSpec({
      step: 'use',
      code: ['print(len(blob), blob[-1], blob[:3], small)'],
      inputs: ['blob', 'small'],
      from: 'make'
    });
    expect(expectOk(await scratch.run(consumer)).stdout).toBe(
      `${CHUNK + 1024} 255 b'\\x00\\x01\\x02' {'a': [1, 2]}\n`
    );
  });
});
