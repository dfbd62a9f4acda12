/** `chard compile` (src/cli/compile.ts), run in-process with stdout and stderr captured. */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { compileCommand } from '../../src/cli/compile.js';
import { argoPayloads, kfpPayloads, yamlDocuments } from '../core/compile/support.js';

const NOTEBOOKS = join(process.cwd(), 'tests/fixtures/notebooks');

async function chardCompile(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const realOut = process.stdout.write;
  const realErr = process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await compileCommand(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
}

describe('chard compile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'chard-compile-cli-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('warns when the steps would run in the bare default image without the data they read', async () => {
    const churn = join(process.cwd(), 'examples/churn/churn.ipynb');
    const bare = await chardCompile(churn, '--target', 'argo', '-o', join(dir, 'a.yaml'));
    expect(bare.code).toBe(0);
    const warnings = bare.stderr.split('\n').filter(l => l.startsWith('chard: warning: '));
    expect(warnings).toEqual([
      expect.stringContaining(
        "in python:3.12-slim, the default image (no --image, no image in the notebook's " +
          "metadata), which has only Python's standard library, while the notebook imports " +
          'matplotlib, numpy, pandas, sklearn'
      ),
      expect.stringContaining(
        'the notebook reads customers.csv by a relative path but declares no volume'
      )
    ]);
    expect(warnings[0]).toContain("the cluster uses the server's own image");
    const given = await chardCompile(
      churn,
      '--target',
      'kfp',
      '--image',
      'registry.example.com/ds:1',
      '-o',
      join(dir, 'k.yaml')
    );
    expect(given.code).toBe(0);
    expect(given.stderr).not.toContain('default image');
    expect(given.stderr).toContain('customers.csv');
  });

  it('prints an Argo Workflow for a notebook, the same bytes every time', async () => {
    const a = await chardCompile(join(NOTEBOOKS, 'tabular.ipynb'), '--target', 'argo');
    expect(a.code).toBe(0);
    const docs = parseAllDocuments(a.stdout);
    expect(Array.isArray(docs) && docs.length).toBe(1);
    expect(a.stdout).toContain('kind: Workflow');
    const b = await chardCompile(join(NOTEBOOKS, 'tabular.ipynb'), '--target', 'argo');
    expect(b.stdout).toBe(a.stdout);
  });

  it('writes a KFP spec atomically with -o and reports its hash', async () => {
    const file = join(dir, 'churn.yaml');
    const r = await chardCompile(
      join(NOTEBOOKS, 'tabular.ipynb'),
      '--target',
      'kfp',
      '-o',
      file,
      '--param',
      'SEED=7',
      '--image',
      'corp/ml:2'
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    // The notebook's data file, read without a volume, is warned about; the rest is quiet.
    expect(r.stderr).toMatch(
      /^chard: warning: the notebook reads data\/churn\.csv by a relative path but declares no volume.*\nchard: wrote .*churn\.yaml \(sha256 [0-9a-f]{64}\)\n$/
    );
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('schemaVersion: 2.1.0');
    expect(text).toContain('defaultValue: 7');
    expect(text).toContain('image: corp/ml:2');
    expect(readdirSync(dir)).toEqual(['churn.yaml']);
  });

  it('--value-digest sha256 asks every step for the sha256 digest; crc32 is the default', async () => {
    const nb = join(NOTEBOOKS, 'tabular.ipynb');
    const plain = await chardCompile(nb, '--target', 'argo');
    const sha = await chardCompile(nb, '--target', 'argo', '--value-digest', 'sha256');
    expect(sha.code).toBe(0);
    const digests = [...argoPayloads(yamlDocuments(sha.stdout)[0]).values()].map(
      p => p.spec.valueDigest
    );
    expect(digests.length).toBeGreaterThan(1);
    expect(new Set(digests)).toEqual(new Set(['sha256']));
    const crc = await chardCompile(nb, '--target', 'argo', '--value-digest', 'crc32');
    expect(crc.stdout).toBe(plain.stdout);
    expect(sha.stdout).not.toBe(plain.stdout);
    const kfp = await chardCompile(nb, '--target', 'kfp', '--value-digest', 'sha256');
    expect(
      new Set([...kfpPayloads(yamlDocuments(kfp.stdout)[0]).values()].map(p => p.spec.valueDigest))
    ).toEqual(new Set(['sha256']));
  });

  it('--show-step prints the exact code a step runs, imports first', async () => {
    const r = await chardCompile(join(NOTEBOOKS, 'tabular.ipynb'), '--show-step', 'preprocess');
    expect(r.code).toBe(0);
    // Cells numbered from 1 as JupyterLab shows them: the imports are the second cell (index 1).
    expect(r.stdout.startsWith('# cell 2\nimport numpy as np\n')).toBe(true);
    expect(r.stdout).toContain('# cell 7\nX_train, X_test, y_train, y_test = train_test_split(');
  });

  it('exits 2 on usage errors', async () => {
    const nb = join(NOTEBOOKS, 'tabular.ipynb');
    const cases: [string[], string][] = [
      [[nb], '--target argo|kfp is required'],
      [[nb, '--target', 'airflow'], 'unknown target "airflow"; use argo or kfp'],
      [[nb, '--target', 'argo', '--param', 'SEED'], '--param expects NAME=VALUE, got "SEED"'],
      [
        [nb, '--target', 'argo', '--param', 'NOPE=1'],
        '--param NOPE: the notebook has no such parameter'
      ],
      [
        [nb, '--target', 'argo', '--param', 'SEED=x'],
        '--param parameter SEED: "x" is not a valid int value'
      ],
      [[nb, '--target', 'argo', '--bogus'], "Unknown option '--bogus'"],
      [
        [nb, '--target', 'argo', '--value-digest', 'md5'],
        '--value-digest "md5": give sha256 or crc32'
      ],
      [
        [nb, '--target', 'kfp', '--value-digest'],
        "Option '--value-digest <value>' argument missing"
      ],
      [[], 'usage: chard compile']
    ];
    for (const [args, message] of cases) {
      const r = await chardCompile(...args);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stderr).toContain(message);
    }
  });

  it('exits 1 with the diagnostics, one per line, when the notebook has errors', async () => {
    const file = join(dir, 'broken.ipynb');
    writeFileSync(
      file,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [
          {
            cell_type: 'code',
            metadata: { tags: ['step:a', 'limit:cpu'] },
            source: 'x = 1',
            outputs: []
          }
        ]
      })
    );
    const r = await chardCompile(file, '--target', 'argo');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cell 1(, line \\d+)?: error: `)
    );
  });

  it('exits 1 with a one-line message for an unreadable notebook or a setting it cannot compile', async () => {
    const missing = await chardCompile(join(dir, 'nope.ipynb'), '--target', 'argo');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^chard: .*nope\.ipynb: cannot read the notebook \(no such file\)\n$/
    );
    const bad = await chardCompile(
      join(NOTEBOOKS, 'tabular.ipynb'),
      '--target',
      'argo',
      '--image',
      'a b'
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('chard: compile: image: "a b" is not a valid image reference\n');
  });
});
