/**
 * Re-analysis reuses the last analysis's per-cell results and per-step data flow. Whatever the
 * edits, an analyzer that has seen earlier versions of a notebook must give exactly the plan a
 * fresh analyzer gives.
 */
import { NotebookAnalyzer } from '../../src/core/analyze.js';
import type { ICell, INotebook } from '../../src/core/notebook.js';
import { seededRandom } from '../support/random.js';
import { loadNotebook, makeNotebook } from './fixtures.js';

type Edit = (cells: ICell[], pick: (n: number) => number) => void;

const codeAt = (cells: ICell[], pick: (n: number) => number): number => {
  const code = cells.map((c, i) => (c.cellType === 'code' ? i : -1)).filter(i => i >= 0);
  return code.length > 0 ? code[pick(code.length)] : -1;
};

const rewrite = (cells: ICell[], at: number, source: string): void => {
  if (at >= 0) {
    cells[at] = { ...cells[at], source };
  }
};

/** Edits a user makes while typing, each to a random code cell. */
const EDITS: [string, Edit][] = [
  [
    'assign a new name',
    (c, p) => rewrite(c, codeAt(c, p), `${c[codeAt(c, p)]?.source}\nnew_${p(5)} = 1`)
  ],
  [
    'read a name',
    (c, p) => rewrite(c, codeAt(c, p), `${c[codeAt(c, p)]?.source}\nprint(new_${p(5)})`)
  ],
  [
    'mutate a name',
    (c, p) => rewrite(c, codeAt(c, p), `${c[codeAt(c, p)]?.source}\nnew_${p(5)}.append(2)`)
  ],
  [
    'delete a name',
    (c, p) => rewrite(c, codeAt(c, p), `${c[codeAt(c, p)]?.source}\ndel new_${p(5)}`)
  ],
  [
    'import a module',
    (c, p) => rewrite(c, codeAt(c, p), `import new_${p(5)}\n${c[codeAt(c, p)]?.source}`)
  ],
  [
    'define a function with globals',
    (c, p) =>
      rewrite(
        c,
        codeAt(c, p),
        `${c[codeAt(c, p)]?.source}\ndef helper_${p(3)}():\n    global new_${p(5)}\n    new_${p(5)} = new_${p(5)} + 1\n    return new_${p(5)}`
      )
  ],
  [
    'call a function',
    (c, p) => rewrite(c, codeAt(c, p), `${c[codeAt(c, p)]?.source}\nhelper_${p(3)}()`)
  ],
  [
    'drop the last line',
    (c, p) => {
      const at = codeAt(c, p);
      rewrite(c, at, (c[at]?.source ?? '').split('\n').slice(0, -1).join('\n'));
    }
  ],
  ['break the syntax', (c, p) => rewrite(c, codeAt(c, p), `${c[codeAt(c, p)]?.source}\nx = (`)],
  ['delete a cell', (c, p) => void (c.length > 2 && c.splice(p(c.length), 1))],
  ['duplicate a cell', (c, p) => void c.splice(p(c.length), 0, { ...c[p(c.length)] })],
  [
    'tag a cell as a new step',
    (c, p) => {
      const at = codeAt(c, p);
      if (at >= 0) {
        c[at] = { ...c[at], tags: [`step:added_${p(4)}`] };
      }
    }
  ],
  [
    'untag a cell',
    (c, p) => {
      const at = codeAt(c, p);
      if (at >= 0) {
        c[at] = { ...c[at], tags: [] };
      }
    }
  ]
];

function synthetic(): INotebook {
  const cells = [
    { tags: ['imports'], src: 'import numpy as np' },
    { tags: ['functions'], src: 'def grow(xs):\n    xs.append(len(xs))\n    return LIMIT' },
    { tags: ['pipeline-parameters'], src: 'LIMIT = 3' }
  ];
  for (let s = 0; s < 12; s++) {
    cells.push({ tags: [`step:s${s}`], src: `v${s} = [v${Math.max(0, s - 2)}] if ${s} else []` });
    cells.push({ tags: [], src: `grow(v${s})\nw${s % 4} = np.sum(v${s})` });
  }
  return makeNotebook(cells);
}

describe('re-analysis after edits', () => {
  const notebooks: [string, INotebook][] = [
    ...['tabular.ipynb', 'training.ipynb', 'classes.ipynb', 'magics.ipynb', 'kale-ui.ipynb'].map(
      f => [f, loadNotebook(f)] as [string, INotebook]
    ),
    ['synthetic', synthetic()]
  ];

  it.each(notebooks)('%s: 150 random edits, each plan equal to a fresh analysis', (_name, nb) => {
    const random = seededRandom(_name.length * 7919);
    const pick = (n: number): number => Math.floor(random() * n);
    const analyzer = new NotebookAnalyzer();
    let current = nb;
    analyzer.analyze(current);
    const applied = new Set<string>();
    for (let round = 0; round < 150; round++) {
      const cells = current.cells.slice();
      const [label, edit] = EDITS[pick(EDITS.length)];
      edit(cells, pick);
      applied.add(label);
      current = { ...current, cells };
      const again = analyzer.analyze(current);
      const fresh = new NotebookAnalyzer().analyze(current);
      expect({ round, label, plan: again }).toEqual({ round, label, plan: fresh });
    }
    expect(applied.size).toBe(EDITS.length);
  });

  it('a step that stops supplying a name hands it back to the earlier supplier', () => {
    const nb = makeNotebook([
      { tags: ['step:a'], src: 'x = 1' },
      { tags: ['step:b'], src: 'x = 2' },
      { tags: ['step:c'], src: 'y = 0' },
      { tags: ['step:d'], src: 'print(x)' }
    ]);
    const analyzer = new NotebookAnalyzer();
    const parentsOfD = (n: INotebook): string[] =>
      analyzer.analyze(n).steps.find(s => s.name === 'd')!.parents;
    expect(parentsOfD(nb)).toEqual(['b']);
    const cells = nb.cells.slice();
    cells[1] = { ...cells[1], source: 'z = 2' };
    expect(parentsOfD({ ...nb, cells })).toEqual(['a']);
    cells[0] = { ...cells[0], source: 'pass' };
    expect(parentsOfD({ ...nb, cells })).toEqual([]);
  });
});
