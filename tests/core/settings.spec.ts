/** The notebook's `chard` settings: parsed once when the notebook is read, every problem a diagnostic. */
import { NotebookAnalyzer } from '../../src/core/analyze.js';
import { compileArgo } from '../../src/core/compile/argo.js';
import { compileKfp } from '../../src/core/compile/kfp.js';
import type { IDiagnostic, IPlan } from '../../src/core/plan.js';
import { isCompilable } from '../../src/core/plan.js';
import { CHARD_KEYS, parseChardSettings } from '../../src/core/settings.js';
import { makeNotebook } from './fixtures.js';

const STUB_RUNTIME = 'print("runtime")\n';

function analyze(chard: unknown): IPlan {
  return new NotebookAnalyzer().analyze(
    makeNotebook(
      [
        { tags: ['step:load'], src: 'x = 1' },
        { tags: ['step:use'], src: 'print(x)' }
      ],
      {
        chard
      }
    ),
    { fileName: 'flow.ipynb' }
  );
}

/** The notebook-wide diagnostics about the settings, as [severity, message]. */
function problems(chard: unknown): [string, string][] {
  return analyze(chard)
    .diagnostics.filter((d: IDiagnostic) => d.cell === null)
    .map(d => [d.severity, d.message]);
}

describe('the chard notebook settings', () => {
  it.each([
    [
      { retryLimit: -1 },
      'notebook metadata `chard.retryLimit` must be a whole number of at least 0, not -1'
    ],
    [
      { retryLimit: 'x' },
      'notebook metadata `chard.retryLimit` must be a whole number of at least 0, not "x"'
    ],
    [
      { activeDeadlineSeconds: 0 },
      'notebook metadata `chard.activeDeadlineSeconds` must be a whole number of at least 1, not 0'
    ],
    [
      { valueDigest: 'md5' },
      'notebook metadata `chard.valueDigest` must be one of crc32, sha256, not "md5"'
    ],
    [
      { marshalVolume: { size: 'lots' } },
      'notebook metadata `chard.marshalVolume.size` must be a Kubernetes quantity such as 5Gi, not "lots"'
    ],
    [
      { marshalVolume: { accessModes: ['ReadWriteSometimes'] } },
      'notebook metadata `chard.marshalVolume.accessModes` must be a non-empty list of ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod, not ["ReadWriteSometimes"]'
    ],
    [
      { marshalVolume: { sise: '1Gi' } },
      'notebook metadata `chard.marshalVolume.sise` is not a setting (known: size, storageClass, accessModes)'
    ],
    [
      { podGC: 'Sometimes' },
      'notebook metadata `chard.podGC` must be one of OnPodCompletion, OnPodSuccess, OnWorkflowCompletion, OnWorkflowSuccess, not "Sometimes"'
    ],
    [
      { ttlStrategy: { secondsAfterSuccess: -5 } },
      'notebook metadata `chard.ttlStrategy.secondsAfterSuccess` must be a whole number of at least 0, not -5'
    ],
    [
      { namespace: 'Team A' },
      'notebook metadata `chard.namespace` must be a Kubernetes name (lowercase letters, digits and \'-\', at most 63 characters), not "Team A"'
    ],
    [
      { image: 'python 3' },
      'notebook metadata `chard.image` must be an image reference such as python:3.12, not "python 3"'
    ],
    [{ cache: 'yes' }, 'notebook metadata `chard.cache` must be true or false, not "yes"'],
    [
      { snapshotMaxSize: 'huge' },
      'notebook metadata `chard.snapshotMaxSize` must be a size such as "2GiB" or "500MB", not "huge"'
    ],
    [
      { kfpEndpoint: 'kfp.example.com' },
      'notebook metadata `chard.kfpEndpoint` must be an http(s) URL, not "kfp.example.com"'
    ],
    [
      { inferDependencies: 'no' },
      'notebook metadata `chard.inferDependencies` must be true or false, not "no"'
    ],
    [['a'], 'notebook metadata `chard` must be an object, not ["a"]']
  ])('reports %j on the notebook, before anything is compiled', (chard, message) => {
    const plan = analyze(chard);
    expect(problems(chard)).toEqual([['error', message]]);
    expect(isCompilable(plan)).toBe(false);
    expect(() => compileArgo(plan, { runtimeSource: STUB_RUNTIME })).toThrow(
      'the notebook has 1 error; fix it before compiling'
    );
  });

  it('warns about an unknown key, naming the one meant', () => {
    expect(problems({ retry_limit: 2, colour: 'blue' })).toEqual([
      [
        'warning',
        'notebook metadata `chard.retry_limit` is not a Chard setting; it is ignored (did you mean `retryLimit`?)'
      ],
      ['warning', 'notebook metadata `chard.colour` is not a Chard setting; it is ignored']
    ]);
    expect(isCompilable(analyze({ colour: 'blue' }))).toBe(true);
  });

  it('reads the old spellings, with a warning naming the key to use', () => {
    const plan = analyze({
      pipeline_name: 'Churn model',
      snapshot_class: 'csi-snapclass',
      kfp_endpoint: 'http://kfp.example.com:8888',
      infer_dependencies: false,
      snapshot_exclude: ['data/*.csv'],
      snapshot_max_size: '2GiB'
    });
    expect(plan.pipeline.name).toBe('Churn model');
    expect(plan.pipeline.chard).toEqual({
      pipelineName: 'Churn model',
      snapshotClass: 'csi-snapclass',
      kfpEndpoint: 'http://kfp.example.com:8888',
      inferDependencies: false,
      snapshotExclude: ['data/*.csv'],
      snapshotMaxSize: 2 * 1024 ** 3
    });
    // infer_dependencies: false is honoured: without a prev: tag, `use` no longer follows `load`.
    expect(plan.steps.map(s => s.parents)).toEqual([[], []]);
    expect(plan.diagnostics.filter(d => d.cell === null)).toEqual(
      [
        ['pipeline_name', 'pipelineName'],
        ['snapshot_class', 'snapshotClass'],
        ['kfp_endpoint', 'kfpEndpoint'],
        ['infer_dependencies', 'inferDependencies'],
        ['snapshot_exclude', 'snapshotExclude'],
        ['snapshot_max_size', 'snapshotMaxSize']
      ].map(([old, key]) => ({
        severity: 'warning',
        cell: null,
        line: null,
        message: `notebook metadata \`chard.${old}\` is deprecated: rename it to \`chard.${key}\``
      }))
    );
  });

  it('lets the new spelling win when both are set', () => {
    const diagnostics: IDiagnostic[] = [];
    expect(
      parseChardSettings({ snapshotClass: 'new', snapshot_class: 'old' }, diagnostics)
    ).toEqual({ snapshotClass: 'new' });
    expect(diagnostics.map(d => d.message)).toEqual([
      'notebook metadata `chard.snapshot_class` is an old spelling of `chard.snapshotClass`, which is also set and wins; remove `snapshot_class`'
    ]);
  });

  it('documents every key in the README table', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync('README.md', 'utf8');
    for (const { key, deprecated } of CHARD_KEYS) {
      expect(readme).toMatch(new RegExp(`\\| \`${key}\`[^\\n]*\\|`));
      if (deprecated !== undefined) {
        expect(readme).toContain(`\`${deprecated}\``);
      }
    }
  });

  it('carries the typed values into the Argo and KFP manifests', () => {
    const plan = analyze({
      retryLimit: 3,
      activeDeadlineSeconds: 600,
      podGC: 'OnPodSuccess',
      marshalVolume: { size: '2Gi', storageClass: 'fast', accessModes: ['ReadWriteMany'] },
      imagePullPolicy: 'Always',
      image: 'registry.example.com/ds:1',
      serviceAccountName: 'pipeline-runner',
      namespace: 'team-a'
    });
    expect(plan.diagnostics).toEqual([]);
    const wf = compileArgo(plan, { runtimeSource: STUB_RUNTIME }).documents[0] as {
      metadata: { namespace: string };
      spec: {
        activeDeadlineSeconds: number;
        podGC: unknown;
        serviceAccountName: string;
        volumeClaimTemplates: { spec: unknown }[];
        templates: {
          retryStrategy?: unknown;
          container?: { image: string; imagePullPolicy: string };
        }[];
      };
    };
    expect(wf.metadata.namespace).toBe('team-a');
    expect(wf.spec.activeDeadlineSeconds).toBe(600);
    expect(wf.spec.podGC).toEqual({ strategy: 'OnPodSuccess' });
    expect(wf.spec.serviceAccountName).toBe('pipeline-runner');
    expect(wf.spec.volumeClaimTemplates[0].spec).toEqual({
      accessModes: ['ReadWriteMany'],
      resources: { requests: { storage: '2Gi' } },
      storageClassName: 'fast'
    });
    const containers = wf.spec.templates.filter(t => t.container);
    expect(containers.length).toBeGreaterThan(0);
    for (const t of containers) {
      expect(t.retryStrategy).toEqual({ limit: 3 });
      expect(t.container).toMatchObject({
        image: 'registry.example.com/ds:1',
        imagePullPolicy: 'Always'
      });
    }
    const kfp = compileKfp(plan, { runtimeSource: STUB_RUNTIME });
    const [spec, platform] = kfp.documents as [
      {
        root: { dag: { tasks: Record<string, { retryPolicy?: { maxRetryCount: number } }> } };
        components: Record<string, { executorLabel: string }>;
      },
      {
        platforms: {
          kubernetes: { deploymentSpec: { executors: Record<string, Record<string, unknown>> } };
        };
      }
    ];
    expect(spec.root.dag.tasks.load.retryPolicy?.maxRetryCount).toBe(3);
    expect(
      platform.platforms.kubernetes.deploymentSpec.executors[
        spec.components['comp-load'].executorLabel
      ].imagePullPolicy
    ).toBe('Always');
  });
});

describe('one label domain', () => {
  it('labels and annotates what Chard creates under chard.dev only', async () => {
    const { LABEL_HASH, LABEL_ATTEMPT, LABEL_NOTEBOOK, ANNOTATION_PIPELINE } =
      await import('../../src/server/kube/submit.js');
    const wf = compileArgo(analyze({}), { runtimeSource: STUB_RUNTIME }).documents[0] as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    };
    const keys = [
      ...Object.keys(wf.metadata.labels),
      ...Object.keys(wf.metadata.annotations),
      LABEL_HASH,
      LABEL_ATTEMPT,
      LABEL_NOTEBOOK,
      ANNOTATION_PIPELINE
    ].filter(k => k.startsWith('chard.'));
    expect(keys.length).toBeGreaterThan(4);
    expect(keys.filter(k => !k.startsWith('chard.dev/'))).toEqual([]);
  });
});

describe('the run target', () => {
  it('reads where Run as pipeline runs, and refuses a place Chard cannot run', () => {
    expect(analyze({ target: 'argo', kubeContext: 'kind-dev' }).pipeline.chard).toEqual({
      target: 'argo',
      kubeContext: 'kind-dev'
    });
    const diagnostics: IDiagnostic[] = [];
    expect(parseChardSettings({ target: 'lambda' }, diagnostics).target).toBeUndefined();
    expect(diagnostics.map(d => d.message).join('\n')).toMatch(
      /target.*"local", "argo", "kfp"|target.*local.*argo.*kfp/
    );
  });
});
