import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileKfp } from '../../../src/core/compile/kfp.js';
import { CompileError } from '../../../src/core/compile/options.js';
import { BOOTSTRAP_SOURCE } from '../../../src/core/compile/payload.js';
import { base64Encode, sha256Hex } from '../../../src/core/compile/hash.js';
import { RUNTIME_SOURCE } from '../../../src/core/generated/runtime.js';
import { stepCode } from '../../../src/core/plan.js';
import type { IPlan } from '../../../src/core/plan.js';
import {
  STUB_RUNTIME,
  decodeBase64,
  expectGolden,
  flagValues,
  kfpPayloads,
  loadPlan,
  yamlDocuments
} from './support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// Specs the real KFP compiler wrote (kfp 2.14), kept in the project.
const REFERENCE = join(process.cwd(), 'tests', 'fixtures', 'kfp', 'reference');

/** The (possibly shared) executor of step `id`. */
function executorOf(spec: Json, id: string): Json {
  return spec.deploymentSpec.executors[spec.components[`comp-${id}`].executorLabel];
}

function compile(plan: IPlan, options = {}): { spec: Json; platform?: Json; text: string } {
  const result = compileKfp(plan, { runtimeSource: STUB_RUNTIME, ...options });
  const docs = yamlDocuments(result.text) as Json[];
  expect(docs).toEqual(result.documents);
  return { spec: docs[0], platform: docs[1], text: result.text };
}

/** The set of key paths (maps only, arrays by their first item) of a YAML document. */
function shape(value: unknown, prefix = ''): Set<string> {
  const out = new Set<string>();
  if (Array.isArray(value)) {
    for (const item of value) {
      shape(item, `${prefix}[]`).forEach(p => out.add(p));
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      out.add(`${prefix}.${key}`);
      shape(item, `${prefix}.${key}`).forEach(p => out.add(p));
    }
  }
  return out;
}

/** Replace user-chosen map keys (component, task, parameter, artifact names) by placeholders. */
function normalizedShape(doc: Json): Set<string> {
  const generic = (paths: Set<string>): Set<string> =>
    new Set(
      [...paths].map(p =>
        p
          .replace(/\.components\.[^.]+/, '.components.C')
          .replace(/\.executors\.[^.]+/, '.executors.E')
          .replace(/\.tasks\.[^.]+/, '.tasks.T')
          .replace(/\.(parameters|artifacts)\.[^.]+/g, '.$1.N')
      )
    );
  return generic(shape(doc));
}

describe('kfp target: golden pipeline specs', () => {
  for (const name of ['churn', 'classes']) {
    it(`${name}: matches the reviewed golden file`, () => {
      const result = compileKfp(loadPlan(name), { runtimeSource: STUB_RUNTIME });
      expectGolden(`${name}.kfp.yaml`, result.text);
    });
  }

  it('is byte-identical across compilations', () => {
    const plan = loadPlan('churn');
    expect(compileKfp(plan).text).toBe(compileKfp(JSON.parse(JSON.stringify(plan)) as IPlan).text);
  });
});

describe('kfp target: conventions of the real KFP compiler', () => {
  const plan = loadPlan('churn');
  const { spec, platform, text } = compile(plan);
  const ids = Object.fromEntries(plan.steps.map(s => [s.name, s.id]));

  it('uses only fields the real compiler output uses, plus resources, retry and displayName', () => {
    const reference = new Set<string>();
    for (const file of ['kfp-ir-2task-artifact.yaml', 'kfp-ir-2task-params.yaml']) {
      const doc = yamlDocuments(readFileSync(`${REFERENCE}/${file}`, 'utf8'))[0] as Json;
      normalizedShape(doc).forEach(p => reference.add(p));
    }
    const extra = [...normalizedShape(spec)].filter(
      p =>
        !reference.has(p) &&
        !p.includes('.container.resources') &&
        !p.includes('.retryPolicy') &&
        // The real compiler writes `args` for Python components (not in these two references).
        p !== '.deploymentSpec.executors.E.container.args' &&
        // A constant task argument (the step's spec), as the real compiler writes `op(x='...')`.
        !p.startsWith('.root.dag.tasks.T.inputs.parameters.N.runtimeValue') &&
        p !== '.pipelineInfo.displayName' &&
        p !== '.pipelineInfo.description'
    );
    expect(extra).toEqual([]);
    expect(spec.schemaVersion).toBe('2.1.0');
    expect(spec.sdkVersion).toBe('chard-0.1.0');
    expect(text.startsWith('# PIPELINE DEFINITION\n# Name: churn\n')).toBe(true);
  });

  it('has the runtime task, one component per step, and tasks keyed by step id', () => {
    const keys = ['chard-runtime', ...plan.steps.map(s => s.id)].sort();
    expect(Object.keys(spec.components).sort()).toEqual(keys.map(k => `comp-${k}`));
    // The steps of this plan differ in limits, secrets or pod metadata: one executor each.
    expect(Object.keys(spec.deploymentSpec.executors).sort()).toEqual([
      'exec-chard-runtime',
      ...plan.steps.map((_, i) => (i === 0 ? 'exec-chard-step' : `exec-chard-step-${i + 1}`))
    ]);
    expect(Object.keys(spec.root.dag.tasks).sort()).toEqual(keys);
    const results = spec.root.dag.tasks[ids.results];
    expect(results.taskInfo).toEqual({ name: 'results' });
    expect(results.componentRef).toEqual({ name: `comp-${ids.results}` });
    expect(results.dependentTasks).toEqual(
      [ids.train_logreg, ids.train_forest, ids.train_gbm, 'chard-runtime'].sort()
    );
    expect(
      spec.deploymentSpec.executors[spec.components[`comp-${ids.results}`].executorLabel]
    ).toBe(executorOf(spec, ids.results));
  });

  it('shares one executor between steps with the same image, resources and volumes', () => {
    const same = {
      ...plan,
      steps: plan.steps.map(s => ({ ...s, limits: {}, labels: {}, annotations: {}, secrets: [] }))
    };
    const compiled = compile(same);
    const executors = Object.keys(compiled.spec.deploymentSpec.executors).sort();
    // One executor per distinct image and metrics-or-not (a step with metrics names its
    // metrics artifact): here load_data, preprocess and train_forest share one, train_logreg
    // and results (metrics) another, train_gbm (its own image) a third.
    expect(executors).toEqual([
      'exec-chard-runtime',
      'exec-chard-step',
      'exec-chard-step-2',
      'exec-chard-step-3'
    ]);
    const kind = (s: IPlan['steps'][number]): string => `${s.image ?? ''} ${s.metrics.length > 0}`;
    for (const a of same.steps) {
      for (const b of same.steps) {
        const shared =
          compiled.spec.components[`comp-${a.id}`].executorLabel ===
          compiled.spec.components[`comp-${b.id}`].executorLabel;
        expect([a.id, b.id, shared]).toEqual([a.id, b.id, kind(a) === kind(b)]);
      }
    }
    const payloads = kfpPayloads(compiled.spec);
    for (const s of same.steps) {
      // Each task still carries exactly its own code, checked by sha256 in the step.
      const payload = payloads.get(s.id)!;
      expect(payload.spec.code).toEqual(stepCode(same, s));
      const constants = compiled.spec.root.dag.tasks[s.id].inputs.parameters;
      expect(constants.chard_spec_sha256).toEqual({
        runtimeValue: { constant: sha256Hex(JSON.stringify(payload.spec)) }
      });
      expect(
        compiled.spec.components[`comp-${s.id}`].inputDefinitions.parameters.chard_spec
      ).toEqual({ parameterType: 'STRING' });
    }
    // The shared args name no step, value or parameter.
    const args = payloads.get(ids.preprocess)!.args.join(' ');
    for (const name of ['df', 'X_train', 'SEED', ids.preprocess]) {
      expect(args).not.toContain(name);
    }
  });

  it('declares pipeline parameters with KFP types and defaults', () => {
    expect(spec.root.inputDefinitions.parameters).toEqual({
      N_TREES: { defaultValue: 100, isOptional: true, parameterType: 'NUMBER_INTEGER' },
      SEED: { defaultValue: 42, isOptional: true, parameterType: 'NUMBER_INTEGER' },
      TEST_SIZE: { defaultValue: 0.25, isOptional: true, parameterType: 'NUMBER_DOUBLE' }
    });
    const forest = spec.root.dag.tasks[ids.train_forest];
    expect(forest.inputs.parameters).toEqual({
      N_TREES: { componentInputParameter: 'N_TREES' },
      SEED: { componentInputParameter: 'SEED' },
      chard_spec: { runtimeValue: { constant: expect.any(String) } },
      chard_spec_sha256: { runtimeValue: { constant: expect.stringMatching(/^[0-9a-f]{64}$/) } }
    });
  });

  it('passes values between steps as system.Artifact artifacts with path placeholders', () => {
    const producer = spec.components[`comp-${ids.preprocess}`];
    expect(producer.outputDefinitions.artifacts.X_train).toEqual({
      artifactType: { schemaTitle: 'system.Artifact', schemaVersion: '0.0.1' }
    });
    const task = spec.root.dag.tasks[ids.train_logreg];
    expect(task.inputs.artifacts.X_train).toEqual({
      taskOutputArtifact: { outputArtifactKey: 'X_train', producerTask: ids.preprocess }
    });
    // The paths and values come from KFP's executor input (`{{$}}`), which holds them all.
    const args = kfpPayloads(spec).get(ids.preprocess)!.args;
    expect(args).toContain('--kfp-io');
    expect(flagValues(args, '--kfp-spec')).toEqual(['chard_spec']);
    expect(flagValues(args, '--kfp-executor-input')).toEqual(['{{$}}']);
  });

  it('carries the bootstrap and the runtime once, in the chard-runtime task', () => {
    const runtime = spec.deploymentSpec.executors['exec-chard-runtime'].container;
    expect(runtime.command).toEqual(['python3', '-c', BOOTSTRAP_SOURCE]);
    expect(runtime.image).toBe('python:3.11');
    expect(decodeBase64(flagValues(runtime.args, '--bootstrap-b64').join(''))).toBe(
      BOOTSTRAP_SOURCE
    );
    expect(flagValues(runtime.args, '--save')).toEqual([
      "{{$.outputs.artifacts['chard_runtime'].path}}"
    ]);
    expect(spec.root.dag.tasks['chard-runtime']).toEqual({
      // Cached because a step is (train_logreg has `cache:`), so that step's cache key holds.
      cachingOptions: { enableCache: true },
      componentRef: { name: 'comp-chard-runtime' },
      retryPolicy: {
        backoffDuration: '0s',
        backoffFactor: 2,
        backoffMaxDuration: '3600s',
        maxRetryCount: 2
      },
      taskInfo: { name: 'chard-runtime' }
    });
    // The real runtime's text appears once, in that task's arguments.
    const real = compileKfp(plan);
    const encoded = base64Encode(RUNTIME_SOURCE).slice(0, 2000);
    expect(real.text.split(encoded)).toHaveLength(2);
    expect(real.text.split(BOOTSTRAP_SOURCE.split('\n')[0])).toHaveLength(2);
  });

  it("runs each step's bootstrap from the runtime artifact and carries exactly its code", () => {
    for (const step of plan.steps) {
      const p = kfpPayloads(spec).get(step.id)!;
      expect(p.command).toEqual([
        'python3',
        "{{$.inputs.artifacts['chard_runtime'].path}}/bootstrap.py"
      ]);
      expect(p.args.slice(0, 4)).toEqual([
        '--runtime-file',
        "{{$.inputs.artifacts['chard_runtime'].path}}/chard_runtime.py",
        '--runtime-sha256',
        sha256Hex(STUB_RUNTIME)
      ]);
      expect(p.spec.code).toEqual(stepCode(plan, step));
      expect(p.runtime).toBe(STUB_RUNTIME);
      expect(spec.components[`comp-${step.id}`].inputDefinitions.artifacts.chard_runtime).toEqual({
        artifactType: { schemaTitle: 'system.Artifact', schemaVersion: '0.0.1' }
      });
      expect(spec.root.dag.tasks[step.id].inputs.artifacts.chard_runtime).toEqual({
        taskOutputArtifact: { outputArtifactKey: 'chard_runtime', producerTask: 'chard-runtime' }
      });
    }
  });

  it('asks every step for the sha256 value digest when the option or the notebook does', () => {
    const digests = (s: Json): unknown[] =>
      [...kfpPayloads(s).values()].map(p => p.spec.valueDigest);
    expect(new Set(digests(spec))).toEqual(new Set([undefined]));
    const all = plan.steps.map(() => 'sha256');
    expect(digests(compile(plan, { valueDigest: 'sha256' }).spec)).toEqual(all);
    const withMeta = {
      ...plan,
      pipeline: {
        ...plan.pipeline,
        chard: { ...plan.pipeline.chard, valueDigest: 'sha256' as const }
      }
    };
    expect(digests(compile(withMeta).spec)).toEqual(all);
    expect(compile(plan, { valueDigest: 'crc32' }).text).toBe(compile(plan).text);
  });

  it('passes a spec too large for the executor input argument in its own executor, in chunks', () => {
    // Incompressible code: its compressed spec is over 128 KB, and KFP's executor input, which
    // would carry it as a parameter value, is one command-line argument (at most 128 KiB).
    const big = { ...plan, steps: plan.steps.map(s => ({ ...s })) };
    const step = big.steps.find(s => s.name === 'preprocess')!;
    const blob = randomBytes(100_000).toString('base64');
    step.code = [...step.code, { cell: 99, source: `BLOB = ${JSON.stringify(blob)}` }];
    const compiled = compile(big);
    const payload = kfpPayloads(compiled.spec).get(step.id)!;
    expect(payload.spec.code).toEqual(stepCode(big, step));
    expect(flagValues(payload.args, '--spec-zb64').length).toBeGreaterThan(1);
    expect(payload.args).toContain('--kfp-io');
    expect(payload.args).not.toContain('--kfp-spec');
    expect(Object.keys(compiled.spec.root.dag.tasks[step.id].inputs.parameters)).toEqual(
      step.parameters
    );
    const own = compiled.spec.components[`comp-${step.id}`].executorLabel;
    const others = big.steps
      .filter(s => s !== step)
      .map(s => compiled.spec.components[`comp-${s.id}`].executorLabel);
    expect(others).not.toContain(own);
  });

  it('gives a step with metrics a system.Metrics output the bootstrap fills for the KFP UI', () => {
    const results = spec.components[`comp-${ids.results}`];
    expect(results.outputDefinitions.artifacts).toEqual({
      metrics: { artifactType: { schemaTitle: 'system.Metrics', schemaVersion: '0.0.1' } }
    });
    const args = kfpPayloads(spec).get(ids.results)!.args;
    expect(flagValues(args, '--kfp-metrics-artifact')).toEqual(['metrics']);
    expect(flagValues(args, '--kfp-executor-input')).toEqual(['{{$}}']);
    // Steps without metrics have no metrics artifact, but still the executor input: the bootstrap
    // lists their output artifacts in the executor output (kfp.local reads them from there).
    const forest = kfpPayloads(spec).get(ids.train_forest)!.args;
    expect(forest).not.toContain('--kfp-metrics-artifact');
    expect(flagValues(forest, '--kfp-executor-input')).toEqual(['{{$}}']);
  });

  it("renames Chard's artifacts and runtime task away from the notebook's names", () => {
    const named = loadPlan('classes');
    const setup = named.steps.find(s => s.name === 'setup')!;
    const square = named.steps.find(s => s.name === 'square')!;
    setup.id = 'chard-runtime';
    setup.outputs = [...setup.outputs, 'chard_runtime'];
    square.inputs = [...square.inputs, 'chard_runtime'];
    square.inputSources = { ...square.inputSources, chard_runtime: 'setup' };
    square.outputs = [...square.outputs, 'metrics'];
    square.metrics = ['sq'];
    named.steps.find(s => s.name === 'combine')!.inputs.push('metrics');
    const combine = named.steps.find(s => s.name === 'combine')!;
    combine.inputSources = { ...combine.inputSources, metrics: 'square' };
    const renamed = compile(named).spec;
    expect(renamed.root.dag.tasks['chard-runtime-2'].taskInfo).toEqual({ name: 'chard-runtime-2' });
    expect(renamed.root.dag.tasks['chard-runtime'].taskInfo).toEqual({ name: 'setup' });
    const sq = renamed.root.dag.tasks[square.id].inputs.artifacts;
    expect(sq.chard_runtime.taskOutputArtifact).toEqual({
      outputArtifactKey: 'chard_runtime',
      producerTask: 'chard-runtime'
    });
    expect(sq.chard_runtime_2.taskOutputArtifact).toEqual({
      outputArtifactKey: 'chard_runtime',
      producerTask: 'chard-runtime-2'
    });
    const outputs = renamed.components[`comp-${square.id}`].outputDefinitions.artifacts;
    expect(outputs.metrics.artifactType.schemaTitle).toBe('system.Artifact');
    expect(outputs.metrics_2.artifactType.schemaTitle).toBe('system.Metrics');
  });

  it('maps limits to the container resources, an extended resource to the accelerator', () => {
    // With the deprecated numeric fields KFP backends before 2.3 read, as KFP's compiler writes
    // them (cores; GB = bytes / 1e9) (tests/kfp compares with the real compiler's output).
    expect(executorOf(spec, ids.train_forest).container.resources).toEqual({
      cpuLimit: 2,
      cpuRequest: 2,
      memoryLimit: 4.294967296,
      memoryRequest: 4.294967296,
      resourceCpuLimit: '2',
      resourceCpuRequest: '2',
      resourceMemoryLimit: '4Gi',
      resourceMemoryRequest: '4Gi'
    });
    expect(executorOf(spec, ids.train_gbm).container.resources).toEqual({
      accelerator: {
        count: '1',
        resourceCount: '1',
        resourceType: 'nvidia.com/gpu',
        type: 'nvidia.com/gpu'
      },
      memoryLimit: 8.589934592,
      memoryRequest: 8.589934592,
      resourceMemoryLimit: '8Gi',
      resourceMemoryRequest: '8Gi'
    });
  });

  it('leaves out the deprecated numeric fields for quantities KFP would not convert', () => {
    const odd = loadPlan('churn');
    const step = odd.steps.find(s => s.name === 'train_forest')!;
    step.limits = { cpu: '1500u', memory: '1.5Gi', 'example.com/fpga': 'two' };
    const resources = executorOf(compile(odd).spec, step.id).container.resources as Json;
    expect(resources).toEqual({
      accelerator: {
        resourceCount: 'two',
        resourceType: 'example.com/fpga',
        type: 'example.com/fpga'
      },
      resourceCpuLimit: '1500u',
      resourceCpuRequest: '1500u',
      resourceMemoryLimit: '1.5Gi',
      resourceMemoryRequest: '1.5Gi'
    });
  });

  it('puts PVC mounts, secrets, pod metadata and pull policy in the Kubernetes platform spec', () => {
    const executors = platform!.platforms.kubernetes.deploymentSpec.executors;
    const load = executors[spec.components[`comp-${ids.load_data}`].executorLabel];
    expect(load.pvcMount).toEqual([
      {
        constant: 'workspace-churn',
        mountPath: '/home/jovyan',
        pvcNameParameter: { runtimeValue: { constant: 'workspace-churn' } }
      },
      {
        constant: 'reference-data',
        mountPath: '/data/reference',
        pvcNameParameter: { runtimeValue: { constant: 'reference-data' } }
      }
    ]);
    expect(load.secretAsEnv).toEqual([
      {
        keyToEnv: [
          { envVar: 'DB_PASSWORD', secretKey: 'password' },
          { envVar: 'DB_USER', secretKey: 'user' }
        ],
        optional: false,
        secretName: 'warehouse-credentials',
        secretNameParameter: { runtimeValue: { constant: 'warehouse-credentials' } }
      }
    ]);
    expect(load.imagePullPolicy).toBe('IfNotPresent');
    expect(executors[spec.components[`comp-${ids.results}`].executorLabel].podMetadata).toEqual({
      annotations: { 'chard.dev/owner': 'data-science@example.com' },
      labels: { team: 'growth' }
    });
  });

  it('sets caching from cache: tags and options, retries from settings', () => {
    expect(spec.root.dag.tasks[ids.train_logreg].cachingOptions).toEqual({ enableCache: true });
    expect(spec.root.dag.tasks[ids.load_data].cachingOptions).toEqual({});
    // With the backoff KFP's SDK writes by default for `set_retry(2)`.
    expect(spec.root.dag.tasks[ids.load_data].retryPolicy).toEqual({
      backoffDuration: '0s',
      backoffFactor: 2,
      backoffMaxDuration: '3600s',
      maxRetryCount: 2
    });
    const cached = compile(plan, { cache: true }).spec;
    expect(cached.root.dag.tasks[ids.load_data].cachingOptions).toEqual({ enableCache: true });
  });

  it('reports a read-only claim it cannot honour as a warning', () => {
    expect(compileKfp(plan).warnings).toEqual([
      'volume "reference-data": KFP cannot mount a claim read-only; it is mounted read-write'
    ]);
  });

  it('emits a single document when no platform settings are used', () => {
    const classes = compile(loadPlan('classes'));
    expect(classes.platform).toBeUndefined();
  });

  it('refuses snapshot volumes with a clear message', () => {
    const run = (): unknown => compileKfp(loadPlan('training-snapshot'));
    expect(run).toThrow(CompileError);
    expect(run).toThrow(
      'volume "workspace-training": the kfp target mounts existing claims only (type "pvc")'
    );
  });
});
