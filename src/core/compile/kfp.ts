/**
 * The `kfp` target: a plan compiled into a Kubeflow Pipelines v2 pipeline spec (IR YAML), in the
 * structure and conventions of the real KFP compiler (see /work/shared/reference/kfp): one
 * component `comp-<id>` per step, `root.dag.tasks` keyed by step id with `dependentTasks`,
 * pipeline parameters as root `inputDefinitions`, and values between steps as `system.Artifact`
 * artifacts (so no shared volume is needed), which the KFP launcher downloads and uploads.
 *
 * Executors are shared: one per distinct container and Kubernetes settings (image, resources,
 * volumes, secrets, pod metadata, metrics or not), `exec-chard-step`, `exec-chard-step-2`, ...,
 * whose arguments name nothing of a step. A step's spec (its code, compressed) and the spec's
 * sha256 are constant input parameters of its task (`chard_spec`, `chard_spec_sha256`); the
 * bootstrap reads them, the parameter values and the artifact paths from KFP's executor input
 * (`{{$}}`), and checks the spec's sha256. Each task carrying its own spec (not a bundle of all, as
 * on Argo) keeps a step's cache key changing only with its own code. A 500-step spec weighs about
 * 1.4 MiB instead of 2 MiB (`npm run bench -- compile`): what remains per step is KFP's own
 * (component, task) and the step's code. A spec too large for one command-line argument (the
 * executor input is one) travels in its own executor's arguments instead, in chunks.
 *
 * The step runtime (tens of KiB) and the bootstrap (a few) travel once: a first task,
 * `chard-runtime`, carries them base64 in its arguments and saves them into its output artifact,
 * a directory every step reads as an input artifact and runs `python3 DIR/bootstrap.py` from
 * (the runtime checked against its sha256). Repeating them in every executor would make a
 * 20-step spec weigh megabytes. Every task gets KFP's executor input (`{{$}}`) and the bootstrap
 * writes the executor output listing the task's output artifacts, as KFP's own Python executor
 * does (kfp.local takes output artifacts from it only: without it a later task finds no input). A
 * step with metrics has a `system.Metrics` output artifact whose metadata the bootstrap fills with
 * the metric values there, which the KFP UI shows as scalar metrics.
 *
 * Kubernetes-only settings (workspace PVC mounts, secrets as env, pod labels and annotations,
 * image pull policy, deadlines) go into a second YAML document, the Kubernetes platform spec
 * (`platforms.kubernetes.deploymentSpec.executors.exec-<id>`, field names from kfp-kubernetes'
 * kubernetes_executor_config.proto), as the KFP compiler emits it when kfp-kubernetes is used.
 */
import type { IParameter, IPlan, IStep, IVolume, ParameterType } from '../plan.js';
import { buildStepSpec } from '../stepspec.js';
import { base64Encode, sha256Hex } from './hash.js';
import { KFP_IO_NAME, freeName } from './names.js';
import type { ICompileOptions, ICompileResult, ISettings } from './options.js';
import { CompileError, resolveSettings } from './options.js';
import {
  BOOTSTRAP_SOURCE,
  assertInert,
  chunk,
  deflateBase64,
  inertParameterText
} from './payload.js';
import { compareText, toYaml } from './serialize.js';
import {
  checkPlan,
  defaultsWarnings,
  idsByName,
  sizeWarnings,
  parentIds,
  pipelineImage,
  stepImage,
  withParameters
} from './steps.js';

/** `sdkVersion` written into the spec. */
export const KFP_SDK_VERSION = 'chard-0.1.0';
/** Data dir inside a KFP step container (only metrics land there; values are artifacts). */
export const KFP_DATA_DIR = '/tmp/chard/data';
/**
 * The `system.Metrics` output artifact of a step with metrics (`metrics_2`, ... when the step
 * has an output of that name).
 */
export const KFP_METRICS_ARTIFACT = 'metrics';
/** The task that ships the runtime (`chard-runtime-2`, ... when a step has that id). */
export const KFP_RUNTIME_TASK = 'chard-runtime';
/** Its output artifact, an input of every step (renamed like metrics when a value has its name). */
export const KFP_RUNTIME_ARTIFACT = 'chard_runtime';
/** Executors of the steps: `exec-chard-step`, `exec-chard-step-2`, ... (one per distinct container). */
export const KFP_STEP_EXECUTOR = 'chard-step';
/**
 * The constant input parameters of every step task: its step spec (base64 of the compressed JSON)
 * and the spec's sha256 (`chard_spec_2`, ... when the pipeline has a parameter or value so named).
 */
export const KFP_SPEC_PARAMETER = 'chard_spec';
/**
 * Longest compressed spec passed as a parameter (base64 characters): the executor input holding
 * it must stay below Linux's 128 KiB limit for one argument, with room for the rest of it.
 */
export const KFP_SPEC_PARAMETER_MAX = 64_000;
/** The files in that artifact (a directory), as the bootstrap's `--save` writes them. */
export const KFP_RUNTIME_FILES = { bootstrap: 'bootstrap.py', runtime: 'chard_runtime.py' };

const PARAMETER_TYPES: Record<ParameterType, string> = {
  int: 'NUMBER_INTEGER',
  float: 'NUMBER_DOUBLE',
  str: 'STRING',
  bool: 'BOOLEAN'
};

type Json = Record<string, unknown>;

/** Compile a plan into a KFP v2 pipeline spec. Throws `CompileError` on what it cannot express. */
export function compileKfp(plan: IPlan, options: ICompileOptions = {}): ICompileResult {
  checkPlan(plan);
  const settings = resolveSettings(plan, options);
  const warnings: string[] = [];
  for (const p of settings.parameters) {
    Private.checkIoName(p.name, 'pipeline parameter');
  }
  const mounts = Private.pvcMounts(plan.pipeline.volumes, warnings);
  const allowed = new Set<string>();
  const runtimeTask = freeName(KFP_RUNTIME_TASK, new Set(plan.steps.map(s => s.id)));
  const runtime = Private.runtimeTask(plan, settings, runtimeTask, allowed);
  const components: Json = { [`comp-${runtimeTask}`]: runtime.component };
  const executors: Json = { [`exec-${runtimeTask}`]: runtime.executor };
  const platformExecutors: Json = {};
  const tasks: Json = { [runtimeTask]: runtime.task };
  if (settings.imagePullPolicy !== undefined) {
    platformExecutors[`exec-${runtimeTask}`] = { imagePullPolicy: settings.imagePullPolicy };
  }

  // Executors are shared by the steps whose container and Kubernetes settings are the same (one
  // per image/resources/volumes/pod settings, not one per step): a step's code travels as a
  // constant input parameter of its task, its names are read from KFP's executor input.
  const specParam = Private.specParameterNames(plan, settings);
  const shared = new Map<string, string>();
  for (const step of plan.steps) {
    const io = Private.stepIo(step);
    const spec = Private.stepSpecText(plan, step, settings);
    const packed = deflateBase64(spec);
    // KFP's executor input, which carries the parameter, is one command-line argument: a spec
    // too large for that travels in its own executor's arguments, in chunks.
    const inline =
      packed.length > KFP_SPEC_PARAMETER_MAX ? { packed, sha256: sha256Hex(spec) } : undefined;
    const container = Private.container(
      plan,
      step,
      settings,
      io,
      allowed,
      warnings,
      specParam,
      inline
    );
    const platform = Private.platform(step, settings, mounts);
    const key = JSON.stringify([container, platform]);
    let executor = shared.get(key);
    if (executor === undefined) {
      executor = `exec-${freeName(KFP_STEP_EXECUTOR, new Set([...shared.values()].map(e => e.slice(5))))}`;
      shared.set(key, executor);
      executors[executor] = { container };
      if (Object.keys(platform).length > 0) {
        platformExecutors[executor] = platform;
      }
    }
    const component = `comp-${step.id}`;
    const constants: Record<string, string> =
      inline === undefined ? { [specParam.spec]: packed, [specParam.sha256]: sha256Hex(spec) } : {};
    components[component] = Private.component(step, settings, executor, io, constants);
    tasks[step.id] = Private.task(plan, step, settings, component, io, runtimeTask, constants);
  }

  const pipelineInfo: Json = { name: plan.pipeline.id };
  if (plan.pipeline.name !== plan.pipeline.id) {
    pipelineInfo.displayName = plan.pipeline.name;
  }
  if (plan.pipeline.description) {
    pipelineInfo.description = plan.pipeline.description;
  }
  const root: Json = { dag: { tasks } };
  if (settings.parameters.length > 0) {
    const parameters: Json = {};
    for (const p of settings.parameters) {
      parameters[p.name] = {
        defaultValue: p.type === 'str' ? inertParameterText(p.value) : p.value,
        isOptional: true,
        parameterType: PARAMETER_TYPES[p.type]
      };
    }
    root.inputDefinitions = { parameters };
  }
  const pipelineSpec: Json = {
    components,
    deploymentSpec: { executors },
    pipelineInfo,
    root,
    schemaVersion: '2.1.0',
    sdkVersion: KFP_SDK_VERSION
  };
  // The KFP launcher substitutes `{{$...}}` in container arguments; only ours may be there.
  assertInert(pipelineSpec.deploymentSpec, '{{', allowed, (where, text) => {
    throw new CompileError(
      `deploymentSpec.${where}: ${JSON.stringify(text)} contains "{{", which KFP would substitute`
    );
  });
  const documents: Json[] = [pipelineSpec];
  if (Object.keys(platformExecutors).length > 0) {
    documents.push({
      platforms: { kubernetes: { deploymentSpec: { executors: platformExecutors } } }
    });
  }
  const text = toYaml(documents, Private.header(plan, settings.parameters));
  warnings.push(...defaultsWarnings(plan, settings), ...sizeWarnings(text, 'pipeline spec'));
  return { target: 'kfp', text, hash: sha256Hex(text), documents, warnings };
}

namespace Private {
  const ARTIFACT = { schemaTitle: 'system.Artifact', schemaVersion: '0.0.1' };
  const METRICS = { schemaTitle: 'system.Metrics', schemaVersion: '0.0.1' };
  /** The KFP placeholder for the whole executor input (JSON), as KFP's Python components use. */
  const EXECUTOR_INPUT = '{{$}}';

  /** Names of a step's own artifacts that must not collide with its values. */
  export interface IStepIo {
    /** Input artifact the runtime arrives in. */
    runtime: string;
    /** Output artifact of the metrics (steps with metrics only). */
    metrics?: string;
  }

  export function stepIo(step: IStep): IStepIo {
    const runtime = freeName(KFP_RUNTIME_ARTIFACT, new Set(step.inputs), '_');
    return step.metrics.length > 0
      ? { runtime, metrics: freeName(KFP_METRICS_ARTIFACT, new Set(step.outputs), '_') }
      : { runtime };
  }

  export function checkIoName(name: string, what: string): void {
    if (!KFP_IO_NAME.test(name)) {
      throw new CompileError(
        `${what} ${JSON.stringify(name)} is not a Python identifier, which KFP needs`
      );
    }
  }

  /** The header comment the KFP compiler writes (values JSON-quoted, so one line each). */
  export function header(plan: IPlan, parameters: IParameter[]): string {
    const lines = ['PIPELINE DEFINITION', `Name: ${plan.pipeline.id}`];
    if (plan.pipeline.description) {
      lines.push(`Description: ${JSON.stringify(plan.pipeline.description)}`);
    }
    if (parameters.length > 0) {
      lines.push('Inputs:');
      for (const p of parameters) {
        lines.push(`   ${p.name}: ${p.type} [Default: ${JSON.stringify(p.value)}]`);
      }
    }
    return lines.join('\n');
  }

  /**
   * A task's retries with the backoff KFP's SDK writes by default (`set_retry(n)`: no first
   * delay, factor 2, at most an hour), so that the backend's retries behave as for a pipeline
   * written with the SDK.
   */
  export function retryPolicy(maxRetryCount: number): Json {
    return {
      backoffDuration: '0s',
      backoffFactor: 2,
      backoffMaxDuration: '3600s',
      maxRetryCount
    };
  }

  function artifacts(names: readonly string[], type: Json): Json {
    return Object.fromEntries(names.map(name => [name, { artifactType: { ...type } }]));
  }

  /**
   * The first task: its executor carries the bootstrap and the runtime (base64) and saves them
   * as its output artifact. It is cached whenever a step is: a step's cache key covers its input
   * artifacts, so a fresh runtime artifact in every run would make every cached step miss.
   */
  export function runtimeTask(
    plan: IPlan,
    settings: ISettings,
    id: string,
    allowed: Set<string>
  ): { component: Json; executor: Json; task: Json } {
    const args: string[] = [];
    for (const part of chunk(base64Encode(settings.runtimeSource))) {
      args.push('--runtime-b64', part);
    }
    for (const part of chunk(base64Encode(BOOTSTRAP_SOURCE))) {
      args.push('--bootstrap-b64', part);
    }
    const path = `{{$.outputs.artifacts['${KFP_RUNTIME_ARTIFACT}'].path}}`;
    allowed.add(path);
    args.push('--save', path);
    allowed.add(EXECUTOR_INPUT);
    args.push('--kfp-executor-input', EXECUTOR_INPUT);
    const cached = plan.steps.some(step => step.cache ?? settings.cache);
    const task: Json = {
      cachingOptions: cached ? { enableCache: true } : {},
      componentRef: { name: `comp-${id}` },
      taskInfo: { name: id }
    };
    if (settings.retryLimit > 0) {
      task.retryPolicy = retryPolicy(settings.retryLimit);
    }
    const container = {
      args,
      command: ['python3', '-c', BOOTSTRAP_SOURCE],
      image: pipelineImage(plan, settings)
    };
    return {
      component: {
        executorLabel: `exec-${id}`,
        outputDefinitions: { artifacts: artifacts([KFP_RUNTIME_ARTIFACT], ARTIFACT) }
      },
      executor: { container },
      task
    };
  }

  /** Names of the spec parameters, the same in every step (so that executors can be shared). */
  export interface ISpecParameters {
    spec: string;
    sha256: string;
  }

  export function specParameterNames(plan: IPlan, settings: ISettings): ISpecParameters {
    const taken = new Set<string>(settings.parameters.map(p => p.name));
    for (const step of plan.steps) {
      for (const name of [...step.inputs, ...step.outputs, ...step.parameters]) {
        taken.add(name);
      }
    }
    for (let i = 1; ; i++) {
      const spec = i === 1 ? KFP_SPEC_PARAMETER : `${KFP_SPEC_PARAMETER}_${i}`;
      const sha256 = `${spec}_sha256`;
      if (!taken.has(spec) && !taken.has(sha256)) {
        return { spec, sha256 };
      }
    }
  }

  export function component(
    step: IStep,
    settings: ISettings,
    executor: string,
    io: IStepIo,
    constants: Record<string, string>
  ): Json {
    const out: Json = { executorLabel: executor };
    const inputs: Json = { artifacts: artifacts([...step.inputs, io.runtime], ARTIFACT) };
    const types = new Map(settings.parameters.map(p => [p.name, p.type]));
    const parameters = Object.fromEntries([
      ...step.parameters.map(name => [
        name,
        { parameterType: PARAMETER_TYPES[types.get(name) ?? 'str'] }
      ]),
      ...Object.keys(constants).map(name => [name, { parameterType: 'STRING' }])
    ]);
    if (Object.keys(parameters).length > 0) {
      inputs.parameters = parameters;
    }
    out.inputDefinitions = inputs;
    const outputs = artifacts(step.outputs, ARTIFACT);
    if (io.metrics !== undefined) {
      Object.assign(outputs, artifacts([io.metrics], METRICS));
    }
    if (Object.keys(outputs).length > 0) {
      out.outputDefinitions = { artifacts: outputs };
    }
    return out;
  }

  const runtimeHashes = new WeakMap<ISettings, string>();

  /** The runtime's sha256, computed once per compilation (the runtime is tens of KiB). */
  function runtimeSha256(settings: ISettings): string {
    let hash = runtimeHashes.get(settings);
    if (hash === undefined) {
      hash = sha256Hex(settings.runtimeSource);
      runtimeHashes.set(settings, hash);
    }
    return hash;
  }

  /** The JSON text of a step's spec, which its task carries compressed. */
  export function stepSpecText(plan: IPlan, step: IStep, settings: ISettings): string {
    const spec = buildStepSpec(withParameters(plan, settings), step, {
      dataDir: KFP_DATA_DIR,
      workdir: settings.workdir,
      valueDigest: settings.valueDigest
    });
    return JSON.stringify(spec);
  }

  /**
   * A step's container. It names nothing of the step but its image, resources and whether it has
   * metrics: the bootstrap takes the step spec from the task's spec parameter and the parameter
   * values and artifact paths from KFP's executor input, so steps share it.
   */
  export function container(
    plan: IPlan,
    step: IStep,
    settings: ISettings,
    io: IStepIo,
    allowed: Set<string>,
    warnings: string[],
    specParam: ISpecParameters,
    inline?: { packed: string; sha256: string }
  ): Json {
    for (const name of step.parameters) {
      checkIoName(name, 'pipeline parameter');
    }
    for (const name of step.inputs) {
      checkIoName(name, `step ${JSON.stringify(step.name)}: input`);
    }
    for (const name of step.outputs) {
      checkIoName(name, `step ${JSON.stringify(step.name)}: output`);
    }
    const args: string[] = [];
    const placeholder = (flag: string, value: string): void => {
      allowed.add(value);
      args.push(flag, value);
    };
    const files = `{{$.inputs.artifacts['${io.runtime}'].path}}`;
    const bootstrap = `${files}/${KFP_RUNTIME_FILES.bootstrap}`;
    allowed.add(bootstrap);
    placeholder('--runtime-file', `${files}/${KFP_RUNTIME_FILES.runtime}`);
    args.push('--runtime-sha256', runtimeSha256(settings));
    if (inline === undefined) {
      args.push('--kfp-spec', specParam.spec, '--kfp-spec-sha256', specParam.sha256);
    } else {
      for (const part of chunk(inline.packed)) {
        args.push('--spec-zb64', part);
      }
      args.push('--spec-sha256', inline.sha256);
    }
    args.push('--kfp-io');
    args.push('--data-dir', KFP_DATA_DIR);
    if (io.metrics !== undefined) {
      args.push('--kfp-metrics-artifact', io.metrics);
    }
    placeholder('--kfp-executor-input', EXECUTOR_INPUT);
    const container: Json = {
      args,
      command: ['python3', bootstrap],
      image: stepImage(plan, step, settings)
    };
    const resources = resourcesFor(step, warnings);
    if (Object.keys(resources).length > 0) {
      container.resources = resources;
    }
    return container;
  }

  /**
   * `limit:` tags as a KFP ResourceSpec: cpu, memory and one accelerator (extended resource). As
   * the KFP compiler does, the quantities go both into the `resource*` strings and, where KFP's
   * SDK would accept them, into the deprecated numeric fields (cpu in cores, memory in GB;
   * accelerator `type` and `count`), which KFP backends before 2.3 read instead: without them
   * those backends would run the step with no limits at all.
   */
  function resourcesFor(step: IStep, warnings: string[]): Json {
    const out: Json = {};
    for (const [key, value] of Object.entries(step.limits).sort(([a], [b]) => compareText(a, b))) {
      if (key === 'cpu') {
        out.resourceCpuLimit = value;
        out.resourceCpuRequest = value;
        const cores = legacyCpu(value);
        if (cores !== undefined) {
          out.cpuLimit = cores;
          out.cpuRequest = cores;
        }
      } else if (key === 'memory') {
        out.resourceMemoryLimit = value;
        out.resourceMemoryRequest = value;
        const gigabytes = legacyMemory(value);
        if (gigabytes !== undefined) {
          out.memoryLimit = gigabytes;
          out.memoryRequest = gigabytes;
        }
      } else if (key.includes('/') && out.accelerator === undefined) {
        const accelerator: Json = { resourceCount: value, resourceType: key, type: key };
        if (/^\d+$/.test(value)) {
          // int64 in the proto, hence a string in its JSON/YAML form.
          accelerator.count = String(Number(value));
        }
        out.accelerator = accelerator;
      } else {
        warnings.push(
          `step ${JSON.stringify(step.name)}: limit ${key} cannot be expressed in a KFP ` +
            'pipeline spec (only cpu, memory and one accelerator); ignored'
        );
      }
    }
    return out;
  }

  /** Cores, as KFP's SDK computes `cpuLimit` (`_cpu_to_float`), for the forms it accepts. */
  export function legacyCpu(value: string): number | undefined {
    if (!/^([0-9]*[.])?[0-9]+m?$/.test(value)) {
      return undefined;
    }
    return value.endsWith('m') ? Number(value.slice(0, -1)) / 1000 : Number(value);
  }

  const MEMORY_UNITS: Record<string, number> = {
    E: 1e18,
    Ei: 2 ** 60,
    P: 1e15,
    Pi: 2 ** 50,
    T: 1e12,
    Ti: 2 ** 40,
    G: 1e9,
    Gi: 2 ** 30,
    M: 1e6,
    Mi: 2 ** 20,
    K: 1e3,
    Ki: 2 ** 10,
    '': 1
  };

  /** GB, as KFP's SDK computes `memoryLimit` (`_memory_to_float`), for the forms it accepts. */
  export function legacyMemory(value: string): number | undefined {
    const match = /^([0-9]+)(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$/.exec(value);
    if (match === null) {
      return undefined;
    }
    const unit = match[2] ?? '';
    // The same operations in the same order as KFP's SDK, so the same double.
    return unit === 'G' ? Number(match[1]) : (Number(match[1]) * MEMORY_UNITS[unit]) / 1e9;
  }

  export function task(
    plan: IPlan,
    step: IStep,
    settings: ISettings,
    component: string,
    io: IStepIo,
    runtimeTask: string,
    constants: Record<string, string>
  ): Json {
    const enableCache = step.cache ?? settings.cache;
    const out: Json = {
      // As the KFP compiler writes it: a disabled cache is an empty cachingOptions.
      cachingOptions: enableCache ? { enableCache: true } : {},
      componentRef: { name: component },
      // Producers of the task's input artifacts, as the KFP compiler lists them.
      dependentTasks: [...parentIds(plan, step), runtimeTask].sort(compareText),
      taskInfo: { name: step.name }
    };
    const ids = idsByName(plan);
    const artifacts = (producerTask: string, outputArtifactKey: string): Json => ({
      taskOutputArtifact: { outputArtifactKey, producerTask }
    });
    const inputs: Json = {
      artifacts: Object.fromEntries([
        ...step.inputs.map(name => [
          name,
          artifacts(ids.get(step.inputSources[name]) as string, name)
        ]),
        [io.runtime, artifacts(runtimeTask, KFP_RUNTIME_ARTIFACT)]
      ])
    };
    const parameters = Object.fromEntries([
      ...step.parameters.map(name => [name, { componentInputParameter: name }]),
      ...Object.entries(constants).map(([name, constant]) => [name, { runtimeValue: { constant } }])
    ]);
    if (Object.keys(parameters).length > 0) {
      inputs.parameters = parameters;
    }
    out.inputs = inputs;
    if (settings.retryLimit > 0) {
      out.retryPolicy = retryPolicy(settings.retryLimit);
    }
    return out;
  }

  /** Workspace volumes KFP can mount: existing claims. */
  export function pvcMounts(volumes: readonly IVolume[], warnings: string[]): Json[] {
    return volumes.map(volume => {
      const what = `volume ${JSON.stringify(volume.name)}`;
      if (volume.snapshot !== undefined || volume.type !== 'pvc') {
        throw new CompileError(
          `${what}: the kfp target mounts existing claims only (type "pvc"); ` +
            `restore snapshots or create claims first, or use --target argo`
        );
      }
      if (!volume.mountPoint.startsWith('/')) {
        throw new CompileError(
          `${what}: mount point ${JSON.stringify(volume.mountPoint)} must be an absolute path`
        );
      }
      if (volume.readOnly) {
        warnings.push(`${what}: KFP cannot mount a claim read-only; it is mounted read-write`);
      }
      return {
        constant: volume.name,
        mountPath: volume.mountPoint,
        pvcNameParameter: { runtimeValue: { constant: volume.name } }
      };
    });
  }

  export function platform(step: IStep, settings: ISettings, mounts: Json[]): Json {
    const out: Json = {};
    if (mounts.length > 0) {
      out.pvcMount = mounts.map(m => ({ ...m }));
    }
    if (settings.imagePullPolicy !== undefined) {
      out.imagePullPolicy = settings.imagePullPolicy;
    }
    if (settings.activeDeadlineSeconds !== undefined) {
      // int64 in the proto, hence a string in its JSON/YAML form.
      out.activeDeadlineSeconds = String(settings.activeDeadlineSeconds);
    }
    const podMetadata: Json = {};
    if (Object.keys(step.labels).length > 0) {
      podMetadata.labels = { ...step.labels };
    }
    if (Object.keys(step.annotations).length > 0) {
      podMetadata.annotations = { ...step.annotations };
    }
    if (Object.keys(podMetadata).length > 0) {
      out.podMetadata = podMetadata;
    }
    if (step.secrets.length > 0) {
      const bySecret = new Map<string, { envVar: string; secretKey: string }[]>();
      for (const s of step.secrets) {
        const list = bySecret.get(s.secret) ?? [];
        list.push({ envVar: s.env, secretKey: s.key });
        bySecret.set(s.secret, list);
      }
      out.secretAsEnv = [...bySecret.keys()].sort().map(secret => ({
        keyToEnv: (bySecret.get(secret) ?? []).sort((a, b) => compareText(a.envVar, b.envVar)),
        // Explicit, as kfp-kubernetes writes it (the field has presence).
        optional: false,
        secretName: secret,
        secretNameParameter: { runtimeValue: { constant: secret } }
      }));
    }
    return out;
  }
}
