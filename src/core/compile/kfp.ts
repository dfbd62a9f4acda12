/**
 * The `kfp` target: a plan compiled into a Kubeflow Pipelines v2 pipeline spec (IR YAML), in the
 * structure and conventions of the real KFP compiler (see /work/shared/reference/kfp): one
 * component `comp-<id>` and executor `exec-<id>` per step, `root.dag.tasks` keyed by step id with
 * `dependentTasks`, pipeline parameters as root `inputDefinitions`, and values between steps as
 * `system.Artifact` artifacts (so no shared volume is needed): the runtime reads an input from
 * `--input NAME={{$.inputs.artifacts['NAME'].path}}` and writes an output directory to
 * `--output NAME={{$.outputs.artifacts['NAME'].path}}`, which the KFP launcher uploads.
 *
 * Kubernetes-only settings (workspace PVC mounts, secrets as env, pod labels and annotations,
 * image pull policy, deadlines) go into a second YAML document, the Kubernetes platform spec
 * (`platforms.kubernetes.deploymentSpec.executors.exec-<id>`, field names from kfp-kubernetes'
 * kubernetes_executor_config.proto), as the KFP compiler emits it when kfp-kubernetes is used.
 */
import type { IParameter, IPlan, IStep, IVolume, ParameterType } from '../plan.js';
import { buildStepSpec } from '../stepspec.js';
import { base64Encode, sha256Hex } from './hash.js';
import { KFP_IO_NAME } from './names.js';
import type { ICompileOptions, ICompileResult, ISettings } from './options.js';
import { CompileError, resolveSettings } from './options.js';
import { BOOTSTRAP_SOURCE, assertInert, chunk, inertParameterText } from './payload.js';
import { toYaml } from './serialize.js';
import { checkPlan, parentIds, stepImage, withParameters } from './steps.js';

/** `sdkVersion` written into the spec. */
export const KFP_SDK_VERSION = 'chard-0.1.0';
/** Data dir inside a KFP step container (only metrics land there; values are artifacts). */
export const KFP_DATA_DIR = '/tmp/chard/data';
/** Output artifact holding a step's recorded metrics as JSON (steps with metrics only). */
export const KFP_METRICS_ARTIFACT = 'chard_metrics';

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
  const components: Json = {};
  const executors: Json = {};
  const platformExecutors: Json = {};
  const tasks: Json = {};
  const allowed = new Set<string>();

  for (const step of plan.steps) {
    const component = `comp-${step.id}`;
    const executor = `exec-${step.id}`;
    components[component] = Private.component(step, settings, executor);
    executors[executor] = Private.executor(plan, step, settings, allowed, warnings);
    const platform = Private.platform(step, settings, mounts);
    if (Object.keys(platform).length > 0) {
      platformExecutors[executor] = platform;
    }
    tasks[step.id] = Private.task(plan, step, settings, component);
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
  return { target: 'kfp', text, hash: sha256Hex(text), documents, warnings };
}

namespace Private {
  const ARTIFACT_TYPE = { schemaTitle: 'system.Artifact', schemaVersion: '0.0.1' };

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

  export function component(step: IStep, settings: ISettings, executor: string): Json {
    const out: Json = { executorLabel: executor };
    const inputs: Json = {};
    if (step.inputs.length > 0) {
      inputs.artifacts = Object.fromEntries(
        step.inputs.map(name => [name, { artifactType: { ...ARTIFACT_TYPE } }])
      );
    }
    const types = new Map(settings.parameters.map(p => [p.name, p.type]));
    if (step.parameters.length > 0) {
      inputs.parameters = Object.fromEntries(
        step.parameters.map(name => [
          name,
          { parameterType: PARAMETER_TYPES[types.get(name) ?? 'str'] }
        ])
      );
    }
    if (Object.keys(inputs).length > 0) {
      out.inputDefinitions = inputs;
    }
    const outputs = [...step.outputs];
    if (step.metrics.length > 0) {
      if (outputs.includes(KFP_METRICS_ARTIFACT)) {
        throw new CompileError(
          `step ${JSON.stringify(step.name)}: the name ${KFP_METRICS_ARTIFACT} is reserved for metrics`
        );
      }
      outputs.push(KFP_METRICS_ARTIFACT);
    }
    if (outputs.length > 0) {
      out.outputDefinitions = {
        artifacts: Object.fromEntries(
          outputs.map(name => [name, { artifactType: { ...ARTIFACT_TYPE } }])
        )
      };
    }
    return out;
  }

  export function executor(
    plan: IPlan,
    step: IStep,
    settings: ISettings,
    allowed: Set<string>,
    warnings: string[]
  ): Json {
    const spec = buildStepSpec(withParameters(plan, settings), step, {
      dataDir: KFP_DATA_DIR,
      workdir: settings.workdir
    });
    const args: string[] = [];
    for (const part of chunk(base64Encode(settings.runtimeSource))) {
      args.push('--runtime-b64', part);
    }
    for (const part of chunk(base64Encode(JSON.stringify(spec)))) {
      args.push('--spec-b64', part);
    }
    args.push('--data-dir', KFP_DATA_DIR);
    const placeholder = (flag: string, value: string): void => {
      allowed.add(value);
      args.push(flag, value);
    };
    for (const name of step.parameters) {
      checkIoName(name, 'pipeline parameter');
      placeholder('--param', `${name}={{$.inputs.parameters['${name}']}}`);
    }
    for (const name of step.inputs) {
      checkIoName(name, `step ${JSON.stringify(step.name)}: input`);
      placeholder('--input', `${name}={{$.inputs.artifacts['${name}'].path}}`);
    }
    for (const name of step.outputs) {
      checkIoName(name, `step ${JSON.stringify(step.name)}: output`);
      placeholder('--output', `${name}={{$.outputs.artifacts['${name}'].path}}`);
    }
    if (step.metrics.length > 0) {
      placeholder('--metrics-file', `{{$.outputs.artifacts['${KFP_METRICS_ARTIFACT}'].path}}`);
    }
    const container: Json = {
      args,
      command: ['python3', '-c', BOOTSTRAP_SOURCE],
      image: stepImage(plan, step, settings)
    };
    const resources = resourcesFor(step, warnings);
    if (Object.keys(resources).length > 0) {
      container.resources = resources;
    }
    return { container };
  }

  /** `limit:` tags as a KFP ResourceSpec: cpu, memory and one accelerator (extended resource). */
  function resourcesFor(step: IStep, warnings: string[]): Json {
    const out: Json = {};
    for (const [key, value] of Object.entries(step.limits).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0
    )) {
      if (key === 'cpu') {
        out.resourceCpuLimit = value;
        out.resourceCpuRequest = value;
      } else if (key === 'memory') {
        out.resourceMemoryLimit = value;
        out.resourceMemoryRequest = value;
      } else if (key.includes('/') && out.accelerator === undefined) {
        out.accelerator = { resourceCount: value, resourceType: key };
      } else {
        warnings.push(
          `step ${JSON.stringify(step.name)}: limit ${key} cannot be expressed in a KFP ` +
            'pipeline spec (only cpu, memory and one accelerator); ignored'
        );
      }
    }
    return out;
  }

  export function task(plan: IPlan, step: IStep, settings: ISettings, component: string): Json {
    const enableCache = step.cache ?? settings.cache;
    const out: Json = {
      // As the KFP compiler writes it: a disabled cache is an empty cachingOptions.
      cachingOptions: enableCache ? { enableCache: true } : {},
      componentRef: { name: component },
      taskInfo: { name: step.name }
    };
    const parents = parentIds(plan, step).sort();
    if (parents.length > 0) {
      out.dependentTasks = parents;
    }
    const ids = new Map(plan.steps.map(s => [s.name, s.id]));
    const inputs: Json = {};
    if (step.inputs.length > 0) {
      inputs.artifacts = Object.fromEntries(
        step.inputs.map(name => [
          name,
          {
            taskOutputArtifact: {
              outputArtifactKey: name,
              producerTask: ids.get(step.inputSources[name]) as string
            }
          }
        ])
      );
    }
    if (step.parameters.length > 0) {
      inputs.parameters = Object.fromEntries(
        step.parameters.map(name => [name, { componentInputParameter: name }])
      );
    }
    if (Object.keys(inputs).length > 0) {
      out.inputs = inputs;
    }
    if (settings.retryLimit > 0) {
      out.retryPolicy = { maxRetryCount: settings.retryLimit };
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
        keyToEnv: (bySecret.get(secret) ?? []).sort((a, b) =>
          a.envVar < b.envVar ? -1 : a.envVar > b.envVar ? 1 : 0
        ),
        secretName: secret,
        secretNameParameter: { runtimeValue: { constant: secret } }
      }));
    }
    return out;
  }
}
