import { analyzeCell } from '../../../src/core/python/scopes.js';

function io(source: string) {
  const a = analyzeCell(source);
  return { reads: [...a.reads].sort(), defines: a.defines, mutates: a.mutates, deletes: a.deletes };
}

describe('names a cell defines', () => {
  it('binds tuple and starred targets but not subscript bases', () => {
    const a = io('a, (b, *c) = f(x)\nd[k] = 1\ne.attr = 2');
    expect(a.defines).toEqual(['a', 'b', 'c']);
    expect(a.mutates).toEqual(['d', 'e']);
    expect(a.reads).toEqual(['d', 'e', 'f', 'k', 'x']);
  });

  it('binds augmented, walrus, for, with and except targets', () => {
    const a = io(
      'total += 1\nif (n := len(xs)) > 0: pass\nfor i, (j, k) in pairs: pass\n' +
        'with open(p) as fh: pass\ntry:\n    pass\nexcept OSError as err:\n    pass'
    );
    expect(a.defines).toEqual(['err', 'fh', 'i', 'j', 'k', 'n', 'total']);
    expect(a.reads).toEqual(['OSError', 'len', 'open', 'p', 'pairs', 'total', 'xs']);
    expect(a.mutates).toEqual(['total']);
  });

  it('binds imports by their alias or top-level package', () => {
    const a = analyzeCell(
      'import os.path, numpy as np\nfrom sklearn.svm import SVC as Svc, LinearSVC'
    );
    expect(a.defines).toEqual(['LinearSVC', 'Svc', 'np', 'os']);
    expect(a.imports).toEqual(['LinearSVC', 'Svc', 'np', 'os']);
    expect(a.importsOnly).toBe(true);
  });

  it('binds def and class names, and match captures', () => {
    const a = io(
      'def f(): pass\nclass C: pass\nmatch cmd:\n    case [first, *rest]: pass\n    case {"k": v}: pass'
    );
    expect(a.defines).toEqual(['C', 'f', 'first', 'rest', 'v']);
  });
});

describe('names a cell reads before defining them', () => {
  it('does not count a name read after the cell defines it', () => {
    expect(io('x = 1\ny = x + z').reads).toEqual(['z']);
  });

  it('counts a name read before it is rebound', () => {
    expect(io('y = x\nx = 2').reads).toEqual(['x']);
  });

  it('keeps comprehension variables local and reads the iterable outside', () => {
    expect(io('ys = [x * k for x in xs if x > lo]').reads).toEqual(['k', 'lo', 'xs']);
    expect(io('d = {k: v for k, v in items}').reads).toEqual(['items']);
  });

  it('keeps the variable of a generator expression passed as an argument local', () => {
    expect(io('total = sum(i for i in xs)').reads).toEqual(['sum', 'xs']);
    expect(io('counts = list(0. for i in range(10))').reads).toEqual(['list', 'range']);
    expect(io('m = max(v * k for k, v in d.items() if v)').reads).toEqual(['d', 'max']);
    expect(io('total = sum(i for i in xs)').defines).toEqual(['total']);
  });

  it('reads a name it deletes (del needs it to exist)', () => {
    expect(io('del model').reads).toEqual(['model']);
    expect(io('del model').deletes).toEqual(['model']);
    expect(io('tmp = 1\ndel tmp').reads).toEqual([]);
    expect(io('def f():\n    x = 1\n    del x\nf()').reads).toEqual([]);
  });

  it('keeps lambda parameters local', () => {
    expect(io('f = lambda a, b=dflt: a + b + c').reads).toEqual(['c', 'dflt']);
  });

  it('ignores keyword-argument names', () => {
    expect(io('model = Model(alpha=a, verbose=True)').reads).toEqual(['Model', 'a']);
  });

  it('reads a dotted decorator by its first name only, with its arguments', () => {
    expect(io('@app.route("/x", methods=M)\ndef h():\n    return body').reads).toEqual([
      'M',
      'app'
    ]);
  });

  it('reads names inside f-strings, format specs included', () => {
    expect(io('print(f"{name}: {value:.{prec}f}")').reads).toEqual([
      'name',
      'prec',
      'print',
      'value'
    ]);
  });

  it('keeps a nested function reading its enclosing function locals out of the globals', () => {
    const a = io(
      'def outer():\n    a = 1\n    def inner():\n        nonlocal a\n        a += b\n    inner()\n    return a\nr = outer()'
    );
    expect(a.reads).toEqual(['b']);
  });

  it('keeps functions defined with async def deferred, and reads top-level await', () => {
    expect(
      io('async def go():\n    async with sess as s:\n        return await s.get(u)').reads
    ).toEqual([]);
    expect(io('res = await fetch(url)').reads).toEqual(['fetch', 'url']);
  });

  it('keeps function locals and parameters out, but reads defaults and decorators', () => {
    const a = analyzeCell('@cache\ndef f(a, b=B):\n    c = a + b\n    return c + G');
    expect([...a.reads].sort()).toEqual(['B', 'cache']);
    expect(a.functions).toEqual([
      { name: 'f', freeReads: ['G'], globalWrites: [], globalMutates: [] }
    ]);
  });

  it('counts a function free variables as reads where the function is called', () => {
    expect(io('def f():\n    return scale * 2\ny = f()').reads).toEqual(['scale']);
    expect(io('def f():\n    return scale * 2').reads).toEqual([]);
  });

  it('treats a class body as run at once and its methods as deferred', () => {
    const a = analyzeCell(
      'class K(Base):\n    size = SIZE\n    def m(self):\n        return size_in_method + G\n'
    );
    expect([...a.reads].sort()).toEqual(['Base', 'SIZE']);
    expect(a.functions[0]).toEqual({
      name: 'K',
      freeReads: ['G', 'size_in_method'],
      globalWrites: [],
      globalMutates: []
    });
  });

  it('follows global statements: calling the function defines the name', () => {
    const a = io('def setup():\n    global conn\n    conn = connect(URL)\nsetup()');
    expect(a.defines).toEqual(['conn', 'setup']);
    expect(a.reads).toEqual(['URL', 'connect']);
  });

  it('records global mutations made by a function when it is called', () => {
    const a = io('def log(m):\n    history.append(m)\nlog("x")');
    expect(a.mutates).toEqual(['history']);
    expect(a.reads).toEqual(['history']);
  });
});

describe('mutation in place', () => {
  it('counts method calls, but not known read-only ones', () => {
    expect(io('xs.append(1)\nmodel.fit(X, y)').mutates).toEqual(['model', 'xs']);
    expect(io('print(df.head())\nm = df.mean()\np = model.predict(X)').mutates).toEqual([]);
    expect(io('df2 = df.assign(**{c: df[c] * 2 for c in cols})').mutates).toEqual([]);
  });

  it('counts inplace=True even on otherwise read-only methods', () => {
    expect(io('df.dropna(inplace=True)').mutates).toEqual(['df']);
    expect(io('df = df.dropna()').mutates).toEqual([]);
  });

  it('counts item deletion as mutation and del NAME as removal', () => {
    const a = io('cache = {}\ndel cache["k"]\ntmp = 1\ndel tmp\ndel gone');
    expect(a.mutates).toEqual(['cache']);
    expect(a.defines).toEqual(['cache']);
    expect(a.deletes).toEqual(['gone', 'tmp']);
  });

  it('counts a chained call on a name as a mutation of that name', () => {
    expect(io('model.named_steps["clf"].fit(X, y)').mutates).toEqual(['model']);
  });
});

describe('IPython syntax', () => {
  it('analyses the statement after %time and ignores other magics and shell lines', () => {
    const a = io(
      '%time y = f(x)\n%matplotlib inline\n!pip list\nfiles = !ls\nobj?\n%%not-a-cell-magic'
    );
    expect(a.defines).toEqual(['files', 'y']);
    expect(a.reads).toEqual(['f', 'x']);
    expect(analyzeCell('%time y = f(x)\n!ls').diagnostics).toEqual([]);
  });

  it('counts a cell of imports and session magics as imports only', () => {
    expect(analyzeCell('%matplotlib inline\nimport numpy as np').importsOnly).toBe(true);
    expect(analyzeCell('%load_ext autoreload\n%autoreload 2\nimport os').importsOnly).toBe(true);
    expect(analyzeCell('!pip install x\nimport x').importsOnly).toBe(false);
    expect(analyzeCell('%matplotlib inline').importsOnly).toBe(false);
  });

  it('analyses Python cell magics and skips other cell magics', () => {
    expect(io('%%time\nz = w * 2').defines).toEqual(['z']);
    const bash = analyzeCell('%%bash\nfor f in *; do echo $f; done');
    expect(bash.reads).toEqual([]);
    expect(bash.ignoredCellMagic).toBe('bash');
    expect(bash.diagnostics).toEqual([]);
  });

  it('keeps magics inside blocks valid and leaves strings alone', () => {
    const a = analyzeCell('if debug:\n    %time r = run(q)\ns = """\n!not a shell line\n"""');
    expect(a.diagnostics).toEqual([]);
    expect(a.defines).toEqual(['r', 's']);
  });
});

describe('diagnostics', () => {
  it('reports one syntax error, where and as Python does', () => {
    const a = analyzeCell('x = foo(1,\n        2\ny = 3');
    expect(a.diagnostics).toEqual([
      { severity: 'error', line: 1, message: "'(' was never closed" }
    ]);
    expect(analyzeCell('if ready\n    go()').diagnostics).toEqual([
      { severity: 'error', line: 1, message: "expected ':'" }
    ]);
  });

  it('gives the line of the first read of each name', () => {
    const a = analyzeCell('x = 1\n\ny = x + z\nprint(w,\n      v)');
    expect(a.reads).toEqual(['z', 'print', 'w', 'v']);
    expect(a.readLines).toEqual([3, 4, 4, 5]);
  });

  it('flags cells that can bind names unseen', () => {
    expect(analyzeCell('from pylab import *').dynamic).toBe(true);
    expect(analyzeCell('globals()["x"] = 1').dynamic).toBe(true);
    expect(analyzeCell('%run setup.py').dynamic).toBe(true);
    expect(analyzeCell('x = 1\n%matplotlib inline').dynamic).toBe(false);
  });

  it('warns about star imports', () => {
    const a = analyzeCell('from pylab import *');
    expect(a.diagnostics).toEqual([
      expect.objectContaining({
        severity: 'warning',
        line: 1,
        message: expect.stringContaining('pylab')
      })
    ]);
  });
});
