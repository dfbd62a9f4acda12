import { snapshotNotebook } from '../../src/lab/snapshot.js';
import { FakeCell, fakeNotebook } from './support.js';

describe('snapshotNotebook', () => {
  it('reads sources, cell types, string tags and notebook metadata without outputs', () => {
    const nb = snapshotNotebook(
      fakeNotebook(
        [
          new FakeCell('markdown', '# Load'),
          new FakeCell('code', 'x = 1', ['step:load', 7]),
          new FakeCell('raw', 'raw text')
        ],
        { kubeflow_notebook: { pipeline_name: 'churn' }, chard: { infer_dependencies: false } }
      )
    );
    expect(nb.nbformat).toBe(4);
    expect(nb.cells).toEqual([
      { cellType: 'markdown', source: '# Load', tags: [] },
      { cellType: 'code', source: 'x = 1', tags: ['step:load'] },
      { cellType: 'raw', source: 'raw text', tags: [] }
    ]);
    expect(nb.metadata).toEqual({
      kubeflow_notebook: { pipeline_name: 'churn' },
      chard: { infer_dependencies: false }
    });
  });

  it('treats an unknown cell type as raw (ignored by the analysis)', () => {
    const nb = snapshotNotebook(fakeNotebook([new FakeCell('widget', 'x')]));
    expect(nb.cells[0].cellType).toBe('raw');
  });
});
