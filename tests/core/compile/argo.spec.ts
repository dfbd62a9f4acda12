import { compileArgo } from '../../../src/core/compile/argo.js';
import { CompileError } from '../../../src/core/compile/options.js';
import type { PodGCStrategy } from '../../../src/core/compile/options.js';
import { stepCode } from '../../../src/core/plan.js';
import type { IPlan } from '../../../src/core/plan.js';
import { workflowSchemaProblem as argoSchemaProblem } from '../../../src/server/argo/schema.js';
import { RUNTIME_SHA256, RUNTIME_SOURCE } from '../../../src/core/generated/runtime.js';
import { BOOTSTRAP_SOURCE } from '../../../src/core/compile/payload.js';
import { sha256Hex } from '../../../src/core/compile/hash.js';
import { STUB_RUNTIME, argoPayloads, expectGolden, loadPlan, yamlDocuments } from './support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function workflowOf(plan: IPlan, options = {}): Json {
  const result = compileArgo(plan, { runtimeSource: STUB_RUNTIME, ...options });
  const docs = yamlDocuments(result.text);
  expect(docs).toHaveLength(1);
  expect(docs[0]).toEqual(result.documents[0]);
  return docs[0] as Json;
}

/** The template named `name`, else the template the DAG task `name` (a step id) runs. */
function template(workflow: Json, name: string): Json {
  const templates = workflow.spec.templates as Json[];
  const task = templates
    .flatMap(x => (x.dag?.tasks ?? []) as Json[])
    .find(x => x.name === name && !templates.some(y => y.name === name));
  const t = templates.find(x => x.name === (task ? task.template : name));
  if (!t) {
    throw new Error(`no template ${name}`);
  }
  return t;
}

describe('argo target: golden workflows', () => {
  for (const name of ['churn', 'training-snapshot', 'classes']) {
    it(`${name}: matches the reviewed golden file and validates against Argo's schema`, () => {
      const plan = loadPlan(name);
      const result = compileArgo(plan, { runtimeSource: STUB_RUNTIME });
      expectGolden(`${name}.argo.yaml`, result.text);
      expect(argoSchemaProblem(yamlDocuments(result.text)[0])).toBeNull();
    });
  }

  it('is byte-identical across compilations, and the hash is the sha256 of the text', () => {
    const plan = loadPlan('churn');
    const a = compileArgo(plan);
    const b = compileArgo(JSON.parse(JSON.stringify(plan)) as IPlan);
    expect(a.text).toBe(b.text);
    expect(a.hash).toBe(b.hash);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    // The real embedded runtime: its hash as computed by Node's crypto at build time.
    expect(a.documents[0]).toMatchObject({
      metadata: { annotations: { 'chard.dev/runtime-sha256': RUNTIME_SHA256 } }
    });
    const changed = compileArgo(plan, { parameters: { SEED: 7 } });
    expect(changed.hash).not.toBe(a.hash);
  });
});

describe('argo target: structure', () => {
  const plan = loadPlan('churn');
  const wf = workflowOf(plan);
  const ids = Object.fromEntries(plan.steps.map(s => [s.name, s.id]));

  it('has a DAG entrypoint with one task per step and the plan dependencies', () => {
    const dag = template(wf, wf.spec.entrypoint);
    const tasks = dag.dag.tasks as Json[];
    expect(tasks.map(t => t.name)).toEqual(plan.steps.map(s => s.id));
    const results = tasks.find(t => t.name === ids.results);
    expect(results?.dependencies).toEqual([ids.train_logreg, ids.train_forest, ids.train_gbm]);
    expect(tasks.find(t => t.name === ids.load_data)?.dependencies).toBeUndefined();
    expect(wf.metadata.generateName).toBe('churn-');
    expect(wf.metadata.name).toBeUndefined();
  });

  it('runs each step with a plain argv (no shell) and the step spec carrying exactly its code', () => {
    const payloads = argoPayloads(wf);
    expect(payloads.size).toBe(plan.steps.length);
    for (const step of plan.steps) {
      const p = payloads.get(step.id);
      expect(p).toBeDefined();
      // The code rides in the command line (the bundle: one chunk), the runtime in the
      // arguments every step template gets from templateDefaults.
      expect(p!.command.slice(0, 9)).toEqual([
        'python3',
        '-c',
        BOOTSTRAP_SOURCE,
        '--spec-bundle-zb64',
        expect.stringMatching(/^[A-Za-z0-9+/]+=*$/),
        '--spec-sha256',
        sha256Hex(JSON.stringify(p!.spec)),
        '--data-dir',
        '/chard/data'
      ]);
      expect(p!.command).not.toContain('sh');
      expect(p!.bootstrap).toBe(BOOTSTRAP_SOURCE);
      expect(p!.runtime).toBe(STUB_RUNTIME);
      expect(p!.spec.code).toEqual(stepCode(plan, step));
      expect(p!.spec.stepId).toBe(step.id);
      expect(p!.spec.workdir).toBe('/home/jovyan/churn');
      expect(p!.spec.dataDir).toBe('/chard/data');
    }
  });

  it('asks every step for the sha256 value digest when the option or the notebook does', () => {
    const digests = (w: Json): unknown[] =>
      [...argoPayloads(w).values()].map(p => p.spec.valueDigest);
    expect(new Set(digests(wf))).toEqual(new Set([undefined]));
    const all = plan.steps.map(() => 'sha256');
    expect(digests(workflowOf(plan, { valueDigest: 'sha256' }))).toEqual(all);
    const withMeta = {
      ...plan,
      pipeline: {
        ...plan.pipeline,
        chard: { ...plan.pipeline.chard, valueDigest: 'sha256' as const }
      }
    };
    expect(digests(workflowOf(withMeta))).toEqual(all);
    // crc32, the default, leaves the manifest exactly as it is without the option.
    const text = (p: IPlan, options = {}): string =>
      compileArgo(p, { runtimeSource: STUB_RUNTIME, ...options }).text;
    expect(text(plan, { valueDigest: 'crc32' })).toBe(text(plan));
    expect(text(withMeta, { valueDigest: 'crc32' })).toBe(text(plan));
  });

  it("gives no template inputs but the step's spec hash: Argo copies a node's inputs into the Workflow's status for every node it runs", () => {
    for (const t of wf.spec.templates as Json[]) {
      expect(t.inputs ?? null).toEqual(t.dag ? null : { parameters: [{ name: 'chard-spec' }] });
    }
    expect(wf.spec.arguments.artifacts).toBeUndefined();
    // The runtime, once for every step template (Argo merges templateDefaults into each).
    expect(wf.spec.templateDefaults).toEqual({
      container: { args: ['--runtime-b64', Buffer.from(STUB_RUNTIME).toString('base64')] }
    });
    expect((wf.spec.templates as Json[]).every(t => t.container?.args === undefined)).toBe(true);
    for (const task of (wf.spec.templates as Json[]).flatMap(t => t.dag?.tasks ?? [])) {
      expect(JSON.stringify(task.arguments ?? {}).length).toBeLessThan(200);
    }
  });

  it('passes pipeline parameters as workflow arguments referenced by --param', () => {
    expect(wf.spec.arguments.parameters).toEqual([
      { name: 'TEST_SIZE', value: '0.25' },
      { name: 'SEED', value: '42' },
      { name: 'N_TREES', value: '100' }
    ]);
    // Every parameter, so that steps share templates; the runtime takes those its step reads.
    const command = template(wf, ids.train_forest).container.command as string[];
    expect(command.slice(command.indexOf('--param'))).toEqual([
      '--param',
      'TEST_SIZE={{workflow.parameters.TEST_SIZE}}',
      '--param',
      'SEED={{workflow.parameters.SEED}}',
      '--param',
      'N_TREES={{workflow.parameters.N_TREES}}'
    ]);
  });

  it('applies parameter overrides to the workflow arguments and the spec defaults', () => {
    const over = workflowOf(plan, { parameters: { SEED: '7', TEST_SIZE: 0.5 } });
    expect(over.spec.arguments.parameters).toContainEqual({ name: 'SEED', value: '7' });
    expect(over.spec.arguments.parameters).toContainEqual({ name: 'TEST_SIZE', value: '0.5' });
    const spec = argoPayloads(over).get(ids.preprocess)!.spec;
    expect(spec.parameters.SEED).toEqual({ type: 'int', value: 7 });
  });

  it('maps limits, labels, annotations and secrets', () => {
    const forest = template(wf, ids.train_forest).container;
    expect(forest.resources).toEqual({
      limits: { cpu: '2', memory: '4Gi' },
      requests: { cpu: '2', memory: '4Gi' }
    });
    const gbm = template(wf, ids.train_gbm);
    expect(gbm.container.resources).toEqual({
      limits: { memory: '8Gi', 'nvidia.com/gpu': '1' },
      requests: { memory: '8Gi' }
    });
    expect(gbm.container.image).toBe('ghcr.io/example/churn-gpu:1.4');
    expect(template(wf, ids.results).metadata).toEqual({
      labels: { team: 'growth' },
      annotations: { 'chard.dev/owner': 'data-science@example.com' }
    });
    expect(template(wf, ids.load_data).container.env).toEqual([
      {
        name: 'DB_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'warehouse-credentials', key: 'password' } }
      },
      {
        name: 'DB_USER',
        valueFrom: { secretKeyRef: { name: 'warehouse-credentials', key: 'user' } }
      }
    ]);
  });

  it('reads retry, podGC, ttl, service account, pull policy and marshal volume from metadata', () => {
    expect(template(wf, ids.load_data).retryStrategy).toEqual({ limit: 2 });
    expect(template(wf, ids.load_data).container.imagePullPolicy).toBe('IfNotPresent');
    expect(wf.spec.podGC).toEqual({ strategy: 'OnPodSuccess' });
    expect(wf.spec.ttlStrategy).toEqual({ secondsAfterCompletion: 86400 });
    expect(wf.spec.serviceAccountName).toBe('pipeline-runner');
    expect(wf.spec.volumeClaimTemplates[0]).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'chard-data' },
      spec: {
        accessModes: ['ReadWriteMany'],
        resources: { requests: { storage: '10Gi' } },
        storageClassName: 'standard'
      }
    });
  });

  it('lets options win over metadata, and metadata over defaults', () => {
    const over = workflowOf(plan, {
      retryLimit: 0,
      podGC: 'OnWorkflowCompletion',
      marshalVolume: { size: '1Gi' },
      serviceAccountName: 'other',
      workflowName: 'churn-abc123-1',
      namespace: 'team-a',
      ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'run', uid: 'u-1' }]
    });
    expect(template(over, ids.load_data).retryStrategy).toBeUndefined();
    expect(over.spec.podGC).toEqual({ strategy: 'OnWorkflowCompletion' });
    expect(over.spec.volumeClaimTemplates[0].spec).toEqual({
      accessModes: ['ReadWriteMany'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: 'standard'
    });
    expect(over.spec.serviceAccountName).toBe('other');
    expect(over.metadata.name).toBe('churn-abc123-1');
    expect(over.metadata.generateName).toBeUndefined();
    expect(over.metadata.namespace).toBe('team-a');
    expect(over.metadata.ownerReferences).toHaveLength(1);
    expect(argoSchemaProblem(over)).toBeNull();

    const bare = workflowOf({ ...plan, pipeline: { ...plan.pipeline, chard: {} } });
    expect(bare.spec.volumeClaimTemplates[0].spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '5Gi' } }
    });
    expect(bare.spec.podGC).toBeUndefined();
    expect(template(bare, ids.load_data).retryStrategy).toBeUndefined();
  });

  it('mounts the marshal volume and existing workspace claims where the notebook had them', () => {
    expect(wf.spec.volumes).toEqual([
      { name: 'workspace-0', persistentVolumeClaim: { claimName: 'workspace-churn' } },
      {
        name: 'workspace-1',
        persistentVolumeClaim: { claimName: 'reference-data', readOnly: true }
      }
    ]);
    for (const step of plan.steps) {
      expect(template(wf, step.id).container.volumeMounts).toEqual([
        { name: 'chard-data', mountPath: '/chard/data' },
        { name: 'workspace-0', mountPath: '/home/jovyan' },
        { name: 'workspace-1', mountPath: '/data/reference', readOnly: true }
      ]);
    }
  });

  it('records metrics as an output parameter of the steps that have them', () => {
    const logreg = template(wf, ids.train_logreg);
    expect(logreg.container.command).toContain('--metrics-file');
    expect(logreg.outputs.parameters[0].name).toBe('metrics');
    expect(template(wf, ids.preprocess).outputs).toBeUndefined();
  });

  it('restores snapshot volumes as claim templates with a VolumeSnapshot data source', () => {
    const snap = workflowOf(loadPlan('training-snapshot'));
    expect(snap.spec.volumeClaimTemplates[1]).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'workspace-0',
        annotations: { 'chard.dev/restored-from': 'workspace-training' }
      },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '20Gi' } },
        storageClassName: 'csi-hostpath-sc',
        dataSource: {
          apiGroup: 'snapshot.storage.k8s.io',
          kind: 'VolumeSnapshot',
          name: 'training-ws-20240501-3f2a'
        }
      }
    });
    expect(snap.spec.volumes).toBeUndefined();
    expect(snap.spec.activeDeadlineSeconds).toBe(7200);
  });

  it('embeds the real runtime by default', () => {
    const real = compileArgo(plan);
    const payload = argoPayloads(real.documents[0]).get(ids.load_data)!;
    expect(payload.runtime).toBe(RUNTIME_SOURCE);
  });
});

describe('argo target: images', () => {
  const base = loadPlan('classes');
  const first = base.steps[0].id;
  const imageOf = (plan: IPlan, options = {}): string =>
    template(workflowOf(plan, options), first).container.image;
  const noImage: IPlan = { ...base, pipeline: { ...base.pipeline, image: undefined } };

  it('uses step tag, then --image, then the notebook setting, then the server image, then the default', () => {
    expect(imageOf(noImage)).toBe('python:3.12-slim');
    expect(imageOf(noImage, { defaultImage: 'corp/python:3' })).toBe('corp/python:3');
    expect(imageOf(noImage, { notebookImage: 'jupyter/scipy:2024' })).toBe('jupyter/scipy:2024');
    const withNb: IPlan = { ...base, pipeline: { ...base.pipeline, image: 'nb/image:1' } };
    expect(imageOf(withNb, { notebookImage: 'jupyter/scipy:2024' })).toBe('nb/image:1');
    expect(imageOf(withNb, { image: 'cli/image:2' })).toBe('cli/image:2');
    const tagged: IPlan = {
      ...withNb,
      steps: withNb.steps.map((s, i) => (i === 0 ? { ...s, image: 'step/image:3' } : s))
    };
    expect(imageOf(tagged, { image: 'cli/image:2' })).toBe('step/image:3');
  });

  it('refuses an image reference that is not one', () => {
    expect(() => compileArgo(noImage, { image: 'python 3' })).toThrow(
      'image: "python 3" is not a valid image reference'
    );
  });
});

describe('argo target: errors are one-line CompileErrors', () => {
  const plan = loadPlan('churn');
  const cases: [string, () => unknown, string][] = [
    [
      'error diagnostics',
      () =>
        compileArgo({
          ...plan,
          diagnostics: [{ severity: 'error', cell: 1, line: 2, message: 'bad' }]
        }),
      'the notebook has 1 error; fix it before compiling'
    ],
    [
      'unknown parameter override',
      () => compileArgo(plan, { parameters: { NOPE: 1 } }),
      'unknown pipeline parameter "NOPE" (the notebook\'s parameters: TEST_SIZE, SEED, N_TREES)'
    ],
    [
      'bad parameter value',
      () => compileArgo(plan, { parameters: { SEED: '4.5' } }),
      'parameter SEED: "4.5" is not a valid int value'
    ],
    [
      'bad retry limit',
      () => compileArgo(plan, { retryLimit: -1 }),
      'retryLimit must be a whole number of at least 0, not -1'
    ],
    [
      'bad marshal size',
      () => compileArgo(plan, { marshalVolume: { size: 'lots' } }),
      'marshal volume size "lots" is not a Kubernetes quantity such as 5Gi'
    ],
    [
      'bad pod GC',
      () => compileArgo(plan, { podGC: 'Sometimes' as PodGCStrategy }),
      'podGC "Sometimes" is not one of OnPodCompletion, OnPodSuccess, OnWorkflowCompletion, OnWorkflowSuccess'
    ],
    [
      'snapshot without size',
      () =>
        compileArgo({
          ...plan,
          pipeline: {
            ...plan.pipeline,
            volumes: [{ type: 'pvc', name: 'ws', mountPoint: '/home/jovyan', snapshot: 'snap-1' }]
          }
        }),
      'volume "ws": a volume Chard creates needs a size such as 10Gi (got "")'
    ],
    [
      'pv volumes',
      () =>
        compileArgo({
          ...plan,
          pipeline: { ...plan.pipeline, volumes: [{ type: 'pv', name: 'x', mountPoint: '/x' }] }
        }),
      'volume "x": volume type "pv" is not supported by the argo target'
    ],
    [
      'a volume mounted over the marshal volume',
      () =>
        compileArgo({
          ...plan,
          pipeline: {
            ...plan.pipeline,
            volumes: [{ type: 'pvc', name: 'x', mountPoint: '/chard/data' }]
          }
        }),
      'volume "x": mount point /chard/data is reserved for Chard'
    ],
    [
      'an annotation Argo would substitute',
      () =>
        compileArgo({
          ...plan,
          steps: plan.steps.map((s, i) =>
            i === 0 ? { ...s, annotations: { note: 'run {{workflow.name}}' } } : s
          )
        }),
      'spec.templates[1].metadata.annotations.note: "run {{workflow.name}}" contains "{{", which Argo would substitute; remove it'
    ]
  ];
  for (const [what, run, message] of cases) {
    it(what, () => {
      expect(run).toThrow(CompileError);
      expect(run).toThrow(message);
      try {
        run();
      } catch (error) {
        expect((error as Error).message).not.toContain('\n');
      }
    });
  }
});
