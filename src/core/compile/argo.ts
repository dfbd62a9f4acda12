/**
 * The `argo` target: a plan compiled into one Argo `Workflow` (argoproj.io/v1alpha1).
 *
 * One DAG template with a task per step (dependencies = the plan's parents); each step a
 * container template running the step runtime through the bootstrap (payload.ts): the step
 * spec is a raw input artifact of the step, the bootstrap and the runtime raw workflow argument
 * artifacts the DAG passes down to every task, so they are carried once. Values pass
 * between steps on the marshal volume (a volumeClaimTemplate mounted at /chard/data in every
 * step, in the data-dir layout of stepspec.ts); workspace volumes are mounted where the
 * notebook had them. User data reaches the cluster only as base64 (see payload.ts), and a final
 * check refuses any other string containing `{{`, which Argo would substitute.
 */
import type { IWorkflow } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Workflow';
import type { IPlan, IStep, IVolume } from '../plan.js';
import { buildStepSpec } from '../stepspec.js';
import { base64Encode, sha256Hex } from './hash.js';
import {
  ARGO_PARAMETER_NAME,
  freeName,
  generateNamePrefix,
  isDnsSubdomain,
  isQuantity
} from './names.js';
import type { ICompileOptions, ICompileResult, ISettings } from './options.js';
import type { AccessMode } from './options.js';
import { ACCESS_MODES, CompileError, resolveSettings } from './options.js';
import { BOOTSTRAP_SOURCE, assertInert, inertParameterText } from './payload.js';
import { compareText, toYaml } from './serialize.js';
import { checkPlan, parentIds, stepImage, withParameters } from './steps.js';

export type ArgoWorkflow = IWorkflow;
type Template = IWorkflow['spec']['templates'] extends (infer T)[] | undefined ? T : never;
type Container = NonNullable<Template['container']>;
type VolumeMount = NonNullable<Container['volumeMounts']>[number];
type ClaimTemplate = NonNullable<IWorkflow['spec']['volumeClaimTemplates']>[number];
type Volume = NonNullable<IWorkflow['spec']['volumes']>[number];

/** Fixed paths inside every step container. */
export namespace ArgoPaths {
  export const BOOTSTRAP = '/chard/bootstrap.py';
  export const RUNTIME = '/chard/runtime.b64';
  export const SPEC = '/chard/spec.b64';
  export const DATA = '/chard/data';
  export const METRICS = '/tmp/chard-metrics.json';
}

/** Names of the fixed artifacts, volumes and the container in every step template. */
export namespace ArgoNames {
  export const BOOTSTRAP = 'chard-bootstrap';
  export const RUNTIME = 'chard-runtime';
  export const SPEC = 'chard-spec';
  export const DATA_VOLUME = 'chard-data';
  export const CONTAINER = 'main';
  export const METRICS = 'metrics';
}

/** Compile a plan into an Argo Workflow. Throws `CompileError` on anything it cannot express. */
export function compileArgo(plan: IPlan, options: ICompileOptions = {}): ICompileResult {
  checkPlan(plan);
  const settings = resolveSettings(plan, options);
  for (const p of settings.parameters) {
    if (!ARGO_PARAMETER_NAME.test(p.name)) {
      throw new CompileError(
        `pipeline parameter ${JSON.stringify(p.name)}: Argo parameter names may only use ` +
          'ASCII letters, digits, _ and -'
      );
    }
  }
  const workspace = Private.workspaceVolumes(plan.pipeline.volumes);
  const allowed = new Set<string>();
  const stepTemplates = plan.steps.map(step =>
    Private.stepTemplate(plan, step, settings, workspace.mounts, allowed)
  );
  const dagName = freeName('pipeline', new Set(plan.steps.map(s => s.id)));
  // The bootstrap and the runtime (tens of KiB) are carried once, as workflow arguments the DAG
  // hands to every task, rather than once per step: a Workflow object must stay well under
  // etcd's 1.5 MiB.
  const shared = [ArgoNames.BOOTSTRAP, ArgoNames.RUNTIME];
  const passed = shared.map(name => {
    const from = `{{inputs.artifacts.${name}}}`;
    allowed.add(from);
    return { name, from };
  });
  const dag: Template = {
    name: dagName,
    inputs: { artifacts: shared.map(name => ({ name })) },
    dag: {
      tasks: plan.steps.map(step => {
        const dependencies = parentIds(plan, step);
        const task = {
          name: step.id,
          template: step.id,
          arguments: { artifacts: passed.map(a => ({ ...a })) }
        };
        return dependencies.length > 0 ? { ...task, dependencies } : task;
      })
    }
  };

  const spec: IWorkflow['spec'] = {
    entrypoint: dagName,
    templates: [dag, ...stepTemplates],
    volumeClaimTemplates: [Private.marshalClaim(settings), ...workspace.claims]
  };
  spec.arguments = {
    artifacts: [
      { name: ArgoNames.BOOTSTRAP, raw: { data: BOOTSTRAP_SOURCE } },
      { name: ArgoNames.RUNTIME, raw: { data: base64Encode(settings.runtimeSource) } }
    ]
  };
  if (settings.parameters.length > 0) {
    spec.arguments.parameters = settings.parameters.map(p => ({
      name: p.name,
      value: inertParameterText(p.value)
    }));
  }
  if (workspace.volumes.length > 0) {
    spec.volumes = workspace.volumes;
  }
  if (settings.serviceAccountName !== undefined) {
    spec.serviceAccountName = settings.serviceAccountName;
  }
  if (settings.activeDeadlineSeconds !== undefined) {
    spec.activeDeadlineSeconds = settings.activeDeadlineSeconds;
  }
  if (settings.podGC !== undefined) {
    spec.podGC = { strategy: settings.podGC };
  }
  if (settings.ttlStrategy !== undefined) {
    spec.ttlStrategy = { ...settings.ttlStrategy };
  }

  const metadata: IWorkflow['metadata'] = {
    labels: { 'app.kubernetes.io/managed-by': 'chard', 'chard.dev/pipeline': plan.pipeline.id },
    annotations: { 'chard.dev/runtime-sha256': sha256Hex(settings.runtimeSource) }
  };
  if (settings.workflowName !== undefined) {
    metadata.name = settings.workflowName;
  } else {
    metadata.generateName = generateNamePrefix(plan.pipeline.id);
  }
  if (settings.namespace !== undefined) {
    metadata.namespace = settings.namespace;
  }
  if (settings.ownerReferences.length > 0) {
    metadata.ownerReferences = settings.ownerReferences.map(r => ({ ...r }));
  }

  const workflow: IWorkflow = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata,
    spec
  };
  assertInert(workflow, '{{', allowed, (where, text) => {
    throw new CompileError(
      `${where}: ${JSON.stringify(text)} contains "{{", which Argo would substitute; remove it`
    );
  });
  const text = toYaml([workflow]);
  return {
    target: 'argo',
    text,
    hash: sha256Hex(text),
    documents: [workflow as unknown as Record<string, unknown>],
    warnings: []
  };
}

namespace Private {
  export interface IWorkspace {
    claims: ClaimTemplate[];
    volumes: Volume[];
    mounts: VolumeMount[];
  }

  export function marshalClaim(settings: ISettings): ClaimTemplate {
    const { size, storageClass, accessModes } = settings.marshalVolume;
    return {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: ArgoNames.DATA_VOLUME },
      spec: {
        accessModes: [...accessModes],
        resources: { requests: { storage: size } },
        ...(storageClass === undefined ? {} : { storageClassName: storageClass })
      }
    };
  }

  /** The notebook's workspace volumes: existing claims, or claims restored from snapshots. */
  export function workspaceVolumes(volumes: readonly IVolume[]): IWorkspace {
    const out: IWorkspace = { claims: [], volumes: [], mounts: [] };
    const mountPoints = new Set<string>();
    volumes.forEach((volume, index) => {
      const name = `workspace-${index}`;
      const what = `volume ${JSON.stringify(volume.name)}`;
      const mountPath = volume.mountPoint;
      if (!mountPath.startsWith('/') || mountPath === '/' || mountPath.includes('\n')) {
        throw new CompileError(
          `${what}: mount point ${JSON.stringify(mountPath)} must be an absolute path below /`
        );
      }
      const normalized = mountPath.replace(/\/+$/, '');
      if (normalized === '/chard' || normalized.startsWith('/chard/')) {
        throw new CompileError(`${what}: mount point ${mountPath} is reserved for Chard`);
      }
      if (mountPoints.has(normalized)) {
        throw new CompileError(`${what}: two volumes are mounted at ${mountPath}`);
      }
      mountPoints.add(normalized);
      if (volume.snapshot !== undefined || volume.type === 'new_pvc') {
        out.claims.push(claimFor(volume, name, what));
      } else if (volume.type === 'pvc') {
        checkName(volume.name, `${what}: claim name`);
        out.volumes.push({
          name,
          persistentVolumeClaim: volume.readOnly
            ? { claimName: volume.name, readOnly: true }
            : { claimName: volume.name }
        });
      } else {
        throw new CompileError(
          `${what}: volume type ${JSON.stringify(volume.type)} is not supported by the argo ` +
            'target (use an existing claim, type "pvc", or a snapshot)'
        );
      }
      out.mounts.push(volume.readOnly ? { name, mountPath, readOnly: true } : { name, mountPath });
    });
    return out;
  }

  function checkName(value: string, what: string): void {
    if (!isDnsSubdomain(value)) {
      throw new CompileError(`${what} ${JSON.stringify(value)} is not a valid Kubernetes name`);
    }
  }

  function claimFor(volume: IVolume, name: string, what: string): ClaimTemplate {
    if (volume.size === undefined || !isQuantity(volume.size)) {
      throw new CompileError(
        `${what}: a volume Chard creates needs a size such as 10Gi (got ${JSON.stringify(volume.size ?? '')})`
      );
    }
    const accessModes = volume.accessModes ?? ['ReadWriteOnce'];
    for (const mode of accessModes) {
      if (!ACCESS_MODES.has(mode)) {
        throw new CompileError(`${what}: ${JSON.stringify(mode)} is not a volume access mode`);
      }
    }
    const spec: NonNullable<ClaimTemplate['spec']> = {
      accessModes: accessModes as AccessMode[],
      resources: { requests: { storage: volume.size } }
    };
    if (volume.storageClass !== undefined) {
      checkName(volume.storageClass, `${what}: storage class`);
      spec.storageClassName = volume.storageClass;
    }
    if (volume.snapshot !== undefined) {
      checkName(volume.snapshot, `${what}: snapshot`);
      spec.dataSource = {
        apiGroup: 'snapshot.storage.k8s.io',
        kind: 'VolumeSnapshot',
        name: volume.snapshot
      };
    }
    const annotations = volume.annotations ?? {};
    return {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata:
        Object.keys(annotations).length > 0 ? { name, annotations: { ...annotations } } : { name },
      spec
    };
  }

  export function stepTemplate(
    plan: IPlan,
    step: IStep,
    settings: ISettings,
    workspaceMounts: VolumeMount[],
    allowed: Set<string>
  ): Template {
    const spec = buildStepSpec(withParameters(plan, settings), step, {
      dataDir: ArgoPaths.DATA,
      workdir: settings.workdir,
      valueDigest: settings.valueDigest
    });
    const command = [
      'python3',
      ArgoPaths.BOOTSTRAP,
      '--runtime-b64-file',
      ArgoPaths.RUNTIME,
      '--spec-b64-file',
      ArgoPaths.SPEC,
      '--data-dir',
      ArgoPaths.DATA
    ];
    for (const name of step.parameters) {
      const arg = `${name}={{workflow.parameters.${name}}}`;
      allowed.add(arg);
      command.push('--param', arg);
    }
    if (step.metrics.length > 0) {
      command.push('--metrics-file', ArgoPaths.METRICS);
    }

    const container: Container = {
      name: ArgoNames.CONTAINER,
      image: stepImage(plan, step, settings),
      command,
      volumeMounts: [{ name: ArgoNames.DATA_VOLUME, mountPath: ArgoPaths.DATA }, ...workspaceMounts]
    };
    if (settings.imagePullPolicy !== undefined) {
      container.imagePullPolicy = settings.imagePullPolicy;
    }
    const env = envFromSecrets(step);
    if (env.length > 0) {
      container.env = env;
    }
    if (Object.keys(step.limits).length > 0) {
      const requests: Record<string, string> = {};
      for (const key of ['cpu', 'memory']) {
        if (step.limits[key] !== undefined) {
          requests[key] = step.limits[key];
        }
      }
      container.resources = { limits: { ...step.limits } };
      if (Object.keys(requests).length > 0) {
        container.resources.requests = requests;
      }
    }

    const template: Template = {
      name: step.id,
      inputs: {
        artifacts: [
          { name: ArgoNames.BOOTSTRAP, path: ArgoPaths.BOOTSTRAP },
          { name: ArgoNames.RUNTIME, path: ArgoPaths.RUNTIME },
          {
            name: ArgoNames.SPEC,
            path: ArgoPaths.SPEC,
            raw: { data: base64Encode(JSON.stringify(spec)) }
          }
        ]
      },
      container
    };
    if (step.metrics.length > 0) {
      template.outputs = {
        parameters: [
          { name: ArgoNames.METRICS, valueFrom: { path: ArgoPaths.METRICS, default: '{}' } }
        ]
      };
    }
    const labels = step.labels;
    const annotations = step.annotations;
    if (Object.keys(labels).length > 0 || Object.keys(annotations).length > 0) {
      template.metadata = {};
      if (Object.keys(labels).length > 0) {
        template.metadata.labels = { ...labels };
      }
      if (Object.keys(annotations).length > 0) {
        template.metadata.annotations = { ...annotations };
      }
    }
    if (settings.retryLimit > 0) {
      template.retryStrategy = { limit: settings.retryLimit };
    }
    return template;
  }

  function envFromSecrets(step: IStep): NonNullable<Container['env']> {
    const seen = new Set<string>();
    const env = [...step.secrets]
      .sort((a, b) => compareText(a.env, b.env))
      .map(s => {
        if (seen.has(s.env)) {
          throw new CompileError(
            `step ${JSON.stringify(step.name)}: environment variable ${s.env} is set by two secrets`
          );
        }
        seen.add(s.env);
        return { name: s.env, valueFrom: { secretKeyRef: { name: s.secret, key: s.key } } };
      });
    return env;
  }
}
