import { applyStepTagEdit, parseCellTags } from '../../src/core/tags.js';

describe('Kale tag vocabulary', () => {
  it('reads step:, the legacy block:, prev: and resource tags', () => {
    const t = parseCellTags([
      'block:train',
      'prev:load',
      'prev:clean',
      'limit:nvidia.com/gpu:2',
      'limit:memory:4Gi',
      'label:team:ml',
      'annotation:sidecar.istio.io/inject:false',
      'image:pytorch/pytorch:2.3.0-cuda12.1',
      'cache:disabled',
      'secret:s3-creds:access-key:AWS_ACCESS_KEY_ID'
    ]);
    expect(t).toMatchObject({
      role: 'step',
      step: 'train',
      legacyBlock: true,
      prev: ['load', 'clean'],
      limits: { 'nvidia.com/gpu': '2', memory: '4Gi' },
      labels: { team: 'ml' },
      annotations: { 'sidecar.istio.io/inject': 'false' },
      image: 'pytorch/pytorch:2.3.0-cuda12.1',
      cache: false,
      secrets: [{ secret: 's3-creds', key: 'access-key', env: 'AWS_ACCESS_KEY_ID' }],
      problems: []
    });
  });

  it('gives special tags their role and ignores tags it does not own', () => {
    expect(parseCellTags(['parameters', 'imports']).role).toBe('imports');
    expect(parseCellTags(['hide-input', 'pipeline-metrics']).role).toBe('pipeline-metrics');
    expect(parseCellTags(['parameters', 'hide-input', 'remove_cell']).role).toBe('continue');
    expect(parseCellTags(['step:']).role).toBe('continue');
  });

  it('reports malformed tags of its vocabulary', () => {
    const t = parseCellTags([
      'limit:cpu',
      'cache:maybe',
      'secret:bad',
      'label:Bad Key:x',
      'image:'
    ]);
    expect(t.problems.map(p => p.tag)).toEqual([
      'limit:cpu',
      'cache:maybe',
      'secret:bad',
      'label:Bad Key:x',
      'image:'
    ]);
  });
});

describe('writing tags for the step editor', () => {
  it('writes step: (never block:) and keeps the tags it does not own', () => {
    expect(
      applyStepTagEdit(['hide-input', 'block:old', 'prev:x', 'limit:cpu:1'], {
        role: 'step',
        step: 'new',
        prev: ['a']
      })
    ).toEqual(['step:new', 'prev:a', 'hide-input', 'limit:cpu:1']);
  });

  it('can turn a step into a plain or special cell', () => {
    expect(applyStepTagEdit(['step:a', 'parameters'], { role: 'continue' })).toEqual([
      'parameters'
    ]);
    expect(applyStepTagEdit(['step:a'], { role: 'skip' })).toEqual(['skip']);
  });
});
