import { NotebookError, parseNotebook } from '../../src/core/notebook.js';

describe('reading notebooks', () => {
  it('joins multi-line sources and reads tags', () => {
    const nb = parseNotebook(
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 2,
        metadata: { kubeflow_notebook: { pipeline_name: 'p' } },
        cells: [
          {
            cell_type: 'code',
            metadata: { tags: ['step:a', 7] },
            source: ['x = 1\n', 'y = 2'],
            outputs: []
          }
        ]
      })
    );
    expect(nb.cells).toEqual([{ cellType: 'code', source: 'x = 1\ny = 2', tags: ['step:a'] }]);
    expect(nb.metadata).toEqual({ kubeflow_notebook: { pipeline_name: 'p' } });
  });

  it.each([
    ['{not json', /nb\.ipynb: not valid JSON/],
    [JSON.stringify({ nbformat: 3, worksheets: [] }), /nb\.ipynb: nbformat 3 is not supported/],
    [
      JSON.stringify({ nbformat: 4, metadata: {} }),
      /nb\.ipynb: not a notebook \(no "cells" array\)/
    ],
    [JSON.stringify([1, 2]), /not a notebook/],
    [
      JSON.stringify({ nbformat: 4, cells: [{ cell_type: 'weird' }] }),
      /cell 1 has unknown cell_type "weird"/
    ]
  ])('gives a one-line error for %s', (text, message) => {
    let caught: unknown;
    try {
      parseNotebook(text, 'nb.ipynb');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(NotebookError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toContain('\n');
  });
});
