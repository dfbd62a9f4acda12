/**
 * The pipeline settings the sidebar writes: Kale's keys (Kale still opens the notebook), Chard's
 * typed keys, other keys kept, and the plan read back from the written metadata.
 */
import { analyzeNotebook } from '../../src/core/analyze.js';
import { snapshotNotebook } from '../../src/lab/snapshot.js';
import {
  isBarePython,
  missingPackages,
  pipelineForm,
  writePipelineForm
} from '../../src/lab/settingsedit.js';
import { FakeCell, fakeNotebook } from './support.js';

class Metadata {
  constructor(public data: Record<string, unknown>) {}
  getMetadata(key: string): unknown {
    return structuredClone(this.data[key]);
  }
  setMetadata(key: string, value: unknown): void {
    if (value === undefined) {
      delete this.data[key];
    } else {
      this.data[key] = structuredClone(value);
    }
  }
}

const cells = () => [
  new FakeCell(
    'code',
    'import numpy as np\nfrom sklearn.linear_model import LinearRegression\nimport os',
    ['imports']
  ),
  new FakeCell('code', 'x = np.ones(3)', ['step:a'])
];

function plan(metadata: Record<string, unknown>) {
  return analyzeNotebook(snapshotNotebook(fakeNotebook(cells(), metadata)), {
    fileName: 'nb.ipynb'
  });
}

describe('writePipelineForm', () => {
  it("writes Kale's keys, keeps keys it does not own, and the plan reads the values back", () => {
    const md = new Metadata({
      kubeflow_notebook: {
        steps_defaults: ['label:team:ml'],
        experiment: { id: '7', name: 'old' }
      },
      other: { keep: true }
    });
    const form = pipelineForm(plan(md.data).pipeline);
    expect(form.name).toBe('nb');
    writePipelineForm(md, {
      ...form,
      name: 'churn model',
      description: 'Predicts churn',
      experiment: 'churn',
      image: 'python:3.12',
      volumes: [{ type: 'new_pvc', name: 'work', mountPoint: '/home/jovyan', size: '5Gi' }],
      snapshot: true,
      snapshotClass: 'csi-snapclass'
    });
    expect(md.data.kubeflow_notebook).toEqual({
      steps_defaults: ['label:team:ml'],
      experiment: { id: '7', name: 'churn' },
      pipeline_name: 'churn model',
      pipeline_description: 'Predicts churn',
      experiment_name: 'churn',
      docker_image: 'python:3.12',
      volumes: [
        {
          annotations: [],
          type: 'new_pvc',
          name: 'work',
          mount_point: '/home/jovyan',
          size: 5,
          size_type: 'Gi'
        }
      ],
      autosnapshot: true
    });
    expect(md.data.chard).toEqual({ snapshotClass: 'csi-snapclass' });
    expect(md.data.other).toEqual({ keep: true });
    const after = plan(md.data);
    expect(after.diagnostics).toEqual([]);
    expect(pipelineForm(after.pipeline)).toEqual({
      name: 'churn model',
      description: 'Predicts churn',
      experiment: 'churn',
      image: 'python:3.12',
      volumes: [{ type: 'new_pvc', name: 'work', mountPoint: '/home/jovyan', size: '5Gi' }],
      snapshot: true,
      snapshotClass: 'csi-snapclass'
    });
  });

  it('updates a Chard override of a Kale field, so the value shown is the value used', () => {
    const md = new Metadata({
      kubeflow_notebook: { pipeline_name: 'kale name' },
      chard: { pipelineName: 'chard name', valueDigest: 'sha256' }
    });
    const form = pipelineForm(plan(md.data).pipeline);
    expect(form.name).toBe('chard name');
    writePipelineForm(md, { ...form, name: 'renamed' });
    expect(md.data.chard).toEqual({ pipelineName: 'renamed', valueDigest: 'sha256' });
    expect(plan(md.data).pipeline.name).toBe('renamed');
  });
});

describe('missingPackages (the image advice)', () => {
  it('names the pip packages a bare Python image lacks for the imports cells', () => {
    const p = plan({});
    expect(missingPackages('python:3.12-slim', p)).toEqual(['numpy', 'scikit-learn']);
    expect(missingPackages('docker.io/library/python:3.11', p)).toEqual(['numpy', 'scikit-learn']);
    expect(missingPackages('jupyter/scipy-notebook:2024-05-27', p)).toEqual([]);
    expect(isBarePython('python')).toBe(true);
    expect(isBarePython('ghcr.io/me/python:3.12')).toBe(false);
  });
});
