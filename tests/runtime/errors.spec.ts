/**
 * Failures as a user sees them in a step log: tracebacks mapped to notebook cells, the
 * machine-readable CHARD_ERROR last line, exit codes 1 (code or marshalling) and 2 (usage).
 */
import { Scratch, chardError, expectOk, runRuntime, stepSpec } from './harness.js';

const FUNCTIONS = `def risky(v):
    """Raises for big values."""
    if v > 2:
        raise ValueError("too big: %d" % v)
    return v
`;

describe('errors in notebook code', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('maps the traceback to cells and lines and ends stderr with CHARD_ERROR', async () => {
    const spec = stepSpec({
      code: [
        { cell: 0, source: 'import os' },
        { cell: 1, source: FUNCTIONS },
        { cell: 6, source: 'ok = risky(1)\nprint("before", ok)\nbad = risky(3)\nprint("never")\n' }
      ]
    });
    const run = await scratch.run(spec);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('before 1\n');
    expect(chardError(run)).toEqual({
      cell: 1,
      line: 4,
      type: 'ValueError',
      message: 'too big: 3'
    });
    expect(run.stderr).toContain('  cell 7, line 3, in <module>\n    bad = risky(3)\n');
    expect(run.stderr).toContain(
      '  cell 2, line 4, in risky\n    raise ValueError("too big: %d" % v)\n'
    );
    expect(run.stderr).not.toContain('chard_runtime.py');
  });

  it('keeps line numbers right after leading blank lines and IPython syntax', async () => {
    const source =
      '\n\n%matplotlib inline\nfiles = !echo a\nx = {"k": 1}\n%time y = x["k"] + 1\nx["missing"]\n';
    const run = await scratch.run(stepSpec({ code: [{ cell: 4, source }] }));
    expect(run.code).toBe(1);
    expect(chardError(run)).toMatchObject({ cell: 4, line: 7, type: 'KeyError' });
    expect(run.stderr).toContain('  cell 5, line 7, in <module>\n    x["missing"]\n');
  });

  it('maps an error raised inside a %time line magic and a %%time cell magic', async () => {
    const line = await scratch.run(stepSpec({ code: ['a = 1', 'b = 2\n%time c = a / 0\n'] }));
    expect(chardError(line)).toMatchObject({ cell: 1, line: 2, type: 'ZeroDivisionError' });
    const cell = await scratch.run(stepSpec({ code: ['%%time\nq = 1\nq.missing_attribute\n'] }));
    expect(chardError(cell)).toMatchObject({ cell: 0, line: 3, type: 'AttributeError' });
    expect(cell.stderr).toContain('  cell 1, line 3, in <module>\n    q.missing_attribute\n');
  });

  it('reports a syntax error at its cell and line', async () => {
    const run = await scratch.run(stepSpec({ code: ['x = 1', 'y = 2\nif y >\n    pass\n'] }));
    expect(run.code).toBe(1);
    expect(chardError(run)).toMatchObject({ cell: 1, line: 2, type: 'SyntaxError' });
    expect(run.stderr).toContain('cell 2, line 2\n    if y >\n');
  });

  it('shows chained exceptions and keeps a multi-line message on one JSON line', async () => {
    const source =
      'try:\n    {}["k"]\nexcept KeyError as e:\n    raise RuntimeError("line one\\nline two") from e\n';
    const run = await scratch.run(stepSpec({ code: [source] }));
    expect(run.stderr).toContain(
      'The above exception was the direct cause of the following exception'
    );
    expect(run.stderr).toContain('  cell 1, line 2, in <module>\n');
    expect(chardError(run)).toEqual({
      cell: 0,
      line: 4,
      type: 'RuntimeError',
      message: 'line one\nline two'
    });
  });

  it('names cells as JupyterLab numbers them (from 1) in warnings and tracebacks the code prints', async () => {
    const source =
      'import traceback, warnings\nwarnings.warn("old api")\ntry:\n    1 / 0\nexcept ZeroDivisionError:\n    traceback.print_exc()\n';
    const run = expectOk(await scratch.run(stepSpec({ code: ['x = 1', source] })));
    // The second cell (index 1) is "cell 2" to the user.
    expect(run.stderr).toContain('<cell 2>:2: UserWarning: old api');
    expect(run.stderr).toContain('File "<cell 2>", line 4, in <module>');
    expect(run.stderr).not.toContain('<cell 1>');
  });

  it('treats sys.exit in a cell as a failure of the step', async () => {
    const run = await scratch.run(stepSpec({ code: ['import sys\nsys.exit(3)\n'] }));
    expect(run.code).toBe(1);
    expect(chardError(run)).toMatchObject({ cell: 0, line: 2, type: 'SystemExit' });
  });
});

describe('values that cannot be passed on', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());

  it('fails with the variable, its type, the step and what to do', async () => {
    const spec = stepSpec({
      step: 'make-stream',
      code: ['stream = (i * i for i in range(3))\n'],
      outputs: ['stream']
    });
    const run = await scratch.run(spec);
    expect(run.code).toBe(1);
    const error = chardError(run);
    expect(error).toMatchObject({ cell: null, line: null, type: 'MarshalError' });
    expect(error.message).toContain(
      'cannot save output "stream" (builtins.generator) of step "make-stream"'
    );
    expect(error.message).toContain(
      'recreate it in the consuming step, or mark the cell that creates it `skip`'
    );
    expect(run.errLines).toContainEqual(
      expect.stringMatching(/^chard: error: cannot save output "stream"/)
    );
  });

  it('fails when the step never defines an output a later step reads', async () => {
    const run = await scratch.run(stepSpec({ step: 'maker', code: ['x = 1'], outputs: ['model'] }));
    expect(run.code).toBe(1);
    expect(chardError(run).message).toBe(
      'step "maker" did not define output "model", which a later step reads'
    );
  });

  it('refuses a metric that is not a number, bool or string', async () => {
    const run = await scratch.run(stepSpec({ code: ['score = [1, 2]'], metrics: ['score'] }));
    expect(run.code).toBe(1);
    expect(chardError(run).message).toBe(
      'metric "score" must be a number, bool or string, got builtins.list'
    );
  });
});

describe('usage errors exit 2 with one line', () => {
  const scratch = new Scratch();
  afterAll(() => scratch.dispose());
  const withParams = stepSpec({
    code: ['print(epochs, rate, verbose, name)'],
    parameters: {
      epochs: { type: 'int', value: 3 },
      rate: { type: 'float', value: 0.1 },
      verbose: { type: 'bool', value: false },
      name: { type: 'str', value: 'x' }
    }
  });

  it.each([
    [['--param', 'epochs=three'], 'chard: error: parameter epochs expects an int, got "three"'],
    [['--param', 'rate=fast'], 'chard: error: parameter rate expects a float, got "fast"'],
    [['--param', 'verbose=maybe'], 'chard: error: parameter verbose expects a bool, got "maybe"'],
    [['--param', 'epochs'], 'chard: error: --param expects NAME=VALUE, got "epochs"'],
    [
      ['--input', 'nothing=/tmp'],
      'chard: error: --input nothing: this step has no input of that name'
    ]
  ])('%j', async (args, message) => {
    const run = await scratch.run(withParams, args);
    expect(run.code).toBe(2);
    expect(run.errLines).toEqual([message]);
    expect(run.stdout).toBe('');
  });

  it('parses every parameter type and ignores parameters the step does not read', async () => {
    const args = ['--param', 'epochs=12', '--param', 'rate=2.5e-3', '--param', 'verbose=TRUE'];
    const run = expectOk(await scratch.run(withParams, [...args, '--param', 'other=1']));
    expect(run.stdout).toBe('12 0.0025 True x\n');
  });

  it('rejects invalid specs', async () => {
    const bad = async (json: string): Promise<string[]> => {
      const run = await runRuntime(['--spec-json', json]);
      expect(run.code).toBe(2);
      return run.errLines;
    };
    expect(await bad('{"version": 1')).toEqual([
      expect.stringMatching(/^chard: error: step spec is not valid JSON/)
    ]);
    const spec = { ...stepSpec({ code: ['x = 1'] }), stepId: '../../etc' };
    expect(await bad(JSON.stringify(spec))).toEqual([
      'chard: error: invalid step spec: stepId must be a DNS-1123 label'
    ]);
    const badOutput = { ...stepSpec({ code: ['x = 1'] }), outputs: ['../x'] };
    expect(await bad(JSON.stringify(badOutput))).toEqual([
      'chard: error: invalid step spec: output name must be a Python identifier, got "../x"'
    ]);
    const missing = await runRuntime([]);
    expect(missing.code).toBe(2);
    expect(missing.errLines).toEqual([
      'chard: error: one of the arguments --spec --spec-json is required'
    ]);
  });
});
