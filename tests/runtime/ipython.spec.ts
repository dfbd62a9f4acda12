/**
 * Cells written for Jupyter run as they would in the notebook: magics, shell escapes and help,
 * with IPython's own transformer when IPython is installed and with the runtime's fallback when
 * it is not. Output streams while the step runs. Hostile values and code stay inert data.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, Scratch, expectOk, stepSpec } from './harness.js';

const LINE_MAGICS = `import os
%env CHARD_TEST_VAR=hello world
print("env is", os.environ["CHARD_TEST_VAR"])
!echo shell sees $CHARD_TEST_VAR
n = 3
!echo expanded {n}
lines = !printf 'a\\nb\\n'
print("lines", lines, lines.n == "a\\nb")
y = %time 6 * 7
print("y is", y)
%matplotlib inline
%pip install definitely-not-a-package-chard
len?
%load_ext autoreload
%timeit -n 1 -r 2 sum(range(10))
os.makedirs("sub", exist_ok=True)
%cd sub
print("cwd ends with", os.path.basename(os.getcwd()))
`;

const WRITEFILE = '%%writefile notes.txt\nhello "quoted" \\\\ back\n';
const BASH = '%%bash\necho "bash says $((1 + 2))"\n';
const CAPTURE = '%%capture captured\nprint("hidden from the log")\n';
const TIME = '%%time\nz = y + 1\nprint("z is", z)\n';
const AFTER =
  'print("captured:", captured.stdout.strip())\nprint("notes:", open("../notes.txt").read().strip())\n';

describe.each([
  ['with IPython', {}],
  ['without IPython (fallback transform)', { PYTHONPATH: join(FIXTURES, 'without-ipython') }]
])('IPython syntax %s', (_mode, env: Record<string, string>) => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('runs line magics, shell escapes, help and cell magics like Jupyter', async () => {
    const spec = stepSpec({
      code: [LINE_MAGICS, '%cd ..', WRITEFILE, BASH, CAPTURE, TIME, '%cd sub', AFTER]
    });
    const run = expectOk(await scratch.run(spec, [], { env }));
    const out = run.stdout.split('\n');
    expect(out).toEqual(
      expect.arrayContaining([
        'env: CHARD_TEST_VAR=hello world',
        'env is hello world',
        'shell sees hello world',
        'expanded 3',
        "lines ['a', 'b'] True",
        'y is 42',
        'cwd ends with sub',
        'Writing notes.txt',
        'bash says 3',
        'z is 43',
        'captured: hidden from the log',
        'notes: hello "quoted" \\\\ back'
      ])
    );
    expect(out.filter(l => l.startsWith('Wall time: '))).toHaveLength(2);
    expect(
      out.filter(l => /per loop \(mean ± std\. dev\. of 2 runs, 1 loops? each\)$/.test(l))
    ).toHaveLength(1);
    expect(out).not.toContain('hidden from the log');
    expect(run.stderr).toContain(
      'chard: skipped %pip install definitely-not-a-package-chard: packages are not installed'
    );
    expect(run.stderr).toContain('chard: skipped len?: help does nothing in a pipeline step');
    expect(run.stderr).toContain(
      'chard: skipped %load_ext: this magic is not supported in a pipeline step'
    );
    expect(readFileSync(join(scratch.work, 'notes.txt'), 'utf8')).toBe(
      'hello "quoted" \\\\ back\n'
    );
  });

  it('leaves look-alikes inside strings and brackets alone', async () => {
    const source =
      'text = """\n!not a command\n%not_a_magic\n"""\nvalues = [\n    1,\n]\nprint(repr(text), values)\n';
    const run = expectOk(
      await scratch.run(stepSpec({ code: [source, 'x = 5\n!echo real {x}\n'] }), [], { env })
    );
    expect(run.stdout).toBe("'\\n!not a command\\n%not_a_magic\\n' [1]\nreal 5\n");
  });
});

describe('streaming', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('shows each printed line while the cell is still running', async () => {
    const arrivals: { text: string; ms: number }[] = [];
    const code = 'import time\nprint("first")\ntime.sleep(1.5)\nprint("second", flush=False)\n';
    const run = expectOk(
      await scratch.run(stepSpec({ code: [code] }), [], {
        onStdout: (text, ms) => arrivals.push({ text, ms })
      })
    );
    expect(run.stdout).toBe('first\nsecond\n');
    const first = arrivals.find(a => a.text.includes('first'));
    const second = arrivals.find(a => a.text.includes('second'));
    expect(first && second).toBeTruthy();
    expect(first?.text).not.toContain('second');
    expect((second?.ms ?? 0) - (first?.ms ?? 0)).toBeGreaterThan(1000);
  });
});

describe('hostile names, values and code', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());
  const HOSTILE =
    'x"\n---\nkind: Secret\nmetadata: {name: "y"}\'; import os; os.system("touch pwned") #';

  it('keeps parameter values and cell code as inert data', async () => {
    const code = [
      'import json\nrecord = {"greeting": greeting, "label": label}\n',
      's = """triple \\"\\"\\" quotes"""\nb = "back\\\\slash\\n"\nraw = r"C:\\new\\table"\n',
      'open("out.json", "w").write(json.dumps({**record, "s": s, "b": b, "raw": raw}))\n'
    ];
    const spec = stepSpec({
      step: 'a"; rm -rf / #',
      code,
      parameters: {
        greeting: { type: 'str', value: HOSTILE },
        label: { type: 'str', value: 'default' }
      },
      outputs: ['record']
    });
    const override = '$(touch pwned2) `touch pwned3` \'""" \n---\nkind: Secret';
    expectOk(await scratch.run(spec, ['--param', `label=${override}`]));
    const out = JSON.parse(readFileSync(join(scratch.work, 'out.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(out).toEqual({
      greeting: HOSTILE,
      label: override,
      s: 'triple """ quotes',
      b: 'back\\slash\n',
      raw: 'C:\\new\\table'
    });
    for (const f of ['pwned', 'pwned2', 'pwned3']) {
      expect(existsSync(join(scratch.work, f))).toBe(false);
    }
    const manifest = JSON.parse(
      readFileSync(join(scratch.data, spec.stepId, 'record', 'manifest.json'), 'utf8')
    ) as Record<string, unknown>;
    expect(manifest.step).toBe('a"; rm -rf / #');
  });
});
