/**
 * The `argo` target: a plan compiled into one Argo `Workflow` (argoproj.io/v1alpha1).
 *
 * One DAG with a task per step (dependencies = the plan's parents). Steps share container
 * templates: one per distinct combination of image, limits, secrets, pod labels and annotations
 * and whether the step records metrics, parametrized by the step (`chard-spec`, the sha256 of its
 * step spec), so a notebook of any number of steps stays under Argo's 200 templates. A DAG of
 * more than 200 tasks (Argo's cap) is split into nested DAGs of at most 200, in plan order; a
 * group waits for the groups its steps depend on.
 *
 * What a step runs travels in its container's command line: the bootstrap (`python3 -c`) and
 * the step specs of the template's steps (cell code, names, defaults) as one compressed,
 * content-addressed bundle (payload.ts `specBundle`) in each step template's command, the
 * runtime once per Workflow as the container `args` of `spec.templateDefaults`, which Argo
 * merges into every container template; both in base64 chunks below the kernel's limit for one
 * argument. Each task names its spec by sha256 and the bootstrap checks it. Never as template inputs: Argo copies a node's inputs into
 * the Workflow's status for every node it runs, so a payload there grows the object by its size
 * with every step until Argo fails the run ("workflow is longer than maximum allowed size").
 * Values pass between steps on the marshal volume (a volumeClaimTemplate mounted at /chard/data
 * in every step, in the data-dir layout of stepspec.ts); workspace volumes are mounted where the
 * notebook had them. User data reaches the cluster only as base64 (see payload.ts), and a final
 * check refuses any other string containing `{{`, which Argo would substitute.
 */
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
import { BOOTSTRAP_SOURCE, assertInert, chunk, inertParameterText, specBundle } from './payload.js';
import { compareText, toYaml } from './serialize.js';
import {
  checkPlan,
  defaultsWarnings,
  parentIds,
  sizeWarnings,
  stepImage,
  withParameters
} from './steps.js';
import type {
  IClaimTemplate,
  IContainer,
  IDagTask,
  ITemplate,
  IVolume as IPodVolume,
  IVolumeMount,
  IWorkflow
} from './workflow.js';

export type ArgoWorkflow = IWorkflow;

/** Argo's caps (the Workflow CRD's maxItems): templates per Workflow, tasks per DAG. */
export const ARGO_MAX_TEMPLATES = 200;
export const ARGO_MAX_DAG_TASKS = 200;

/** Fixed paths inside every step container. */
export namespace ArgoPaths {
  export const DATA = '/chard/data';
  export const METRICS = '/tmp/chard-metrics.json';
}

/** Names of the fixed parameter, volumes and container in every step template. */
export namespace ArgoNames {
  /** The input parameter of a step template: the sha256 of the step's spec in the bundle. */
  export const SPEC = 'chard-spec';
  export const DATA_VOLUME = 'chard-data';
  export const CONTAINER = 'main';
  export const METRICS = 'metrics';
  /** Base name of the shared step templates (`chard-step`, `chard-step-2`, ...). */
  export const STEP_TEMPLATE = 'chard-step';
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
  const withValues = withParameters(plan, settings);
  const specs = plan.steps.map(step =>
    JSON.stringify(
      buildStepSpec(withValues, step, {
        dataDir: ArgoPaths.DATA,
        workdir: settings.workdir,
        valueDigest: settings.valueDigest
      })
    )
  );
  const stepIds = new Set(plan.steps.map(s => s.id));
  const steps = Private.stepTemplates(plan, settings, workspace.mounts, allowed, stepIds, specs);
  const tasks: IDagTask[] = plan.steps.map(step => {
    const dependencies = parentIds(plan, step);
    const task: IDagTask = {
      name: step.id,
      template: steps.templateOf.get(step.id) as string,
      arguments: {
        parameters: [{ name: ArgoNames.SPEC, value: steps.specHash.get(step.id) as string }]
      }
    };
    return dependencies.length > 0 ? { ...task, dependencies } : task;
  });
  const taken = new Set([...stepIds, ...steps.templates.map(t => t.name)]);
  const dags = Private.dagTemplates(tasks, freeName('pipeline', taken));
  const templates = [...dags, ...steps.templates];
  if (templates.length > ARGO_MAX_TEMPLATES) {
    throw new CompileError(
      `the steps need ${steps.templates.length} different step templates (one per ` +
        'combination of image, limits, secrets, pod labels and annotations), and Argo allows ' +
        `${ARGO_MAX_TEMPLATES} templates in a Workflow: give more steps the same image and limits`
    );
  }

  const spec: IWorkflow['spec'] = {
    entrypoint: dags[0].name,
    templates,
    volumeClaimTemplates: [Private.marshalClaim(settings), ...workspace.claims]
  };
  // The runtime, once: Argo gives every step container these arguments after its command.
  spec.templateDefaults = {
    container: {
      args: chunk(base64Encode(settings.runtimeSource)).flatMap(c => ['--runtime-b64', c])
    }
  };
  if (settings.parameters.length > 0) {
    spec.arguments = {
      parameters: settings.parameters.map(p => ({
        name: p.name,
        value: inertParameterText(p.value)
      }))
    };
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
    warnings: [...defaultsWarnings(plan, settings), ...sizeWarnings(text, 'Workflow')]
  };
}

namespace Private {
  export interface IWorkspace {
    claims: IClaimTemplate[];
    volumes: IPodVolume[];
    mounts: IVolumeMount[];
  }

  /**
   * The DAG templates for `tasks` (in plan order): one named `name` when they fit in one DAG,
   * else nested: groups of at most ARGO_MAX_DAG_TASKS consecutive tasks, each a DAG template of
   * its own, and an outer DAG (nested again if needed) in which a group depends on every group
   * holding a parent of one of its tasks. The first template returned is the entrypoint.
   */
  export function dagTemplates(tasks: IDagTask[], name: string): ITemplate[] {
    const dag = (dagName: string, list: IDagTask[]): ITemplate => ({
      name: dagName,
      dag: { tasks: list }
    });
    if (tasks.length <= ARGO_MAX_DAG_TASKS) {
      return [dag(name, tasks)];
    }
    const groupOf = new Map<string, number>();
    const groups: IDagTask[][] = [];
    tasks.forEach((task, i) => {
      const g = Math.floor(i / ARGO_MAX_DAG_TASKS);
      (groups[g] ??= []).push(task);
      groupOf.set(task.name, g);
    });
    const inner: ITemplate[] = [];
    const outer: IDagTask[] = groups.map((members, g) => {
      const groupName = `${name}-${g + 1}`;
      const after = new Set<number>();
      const local = members.map(task => {
        const inGroup = (task.dependencies ?? []).filter(d => groupOf.get(d) === g);
        for (const d of task.dependencies ?? []) {
          if (groupOf.get(d) !== g) {
            after.add(groupOf.get(d) as number);
          }
        }
        const rest: IDagTask = { ...task };
        delete rest.dependencies;
        return inGroup.length > 0 ? { ...rest, dependencies: inGroup } : rest;
      });
      inner.push(dag(groupName, local));
      const groupTask: IDagTask = { name: groupName, template: groupName };
      const dependencies = [...after].sort((a, b) => a - b).map(d => `${name}-${d + 1}`);
      return dependencies.length > 0 ? { ...groupTask, dependencies } : groupTask;
    });
    // Group names (`pipeline-1`, ...) are template names and task names of the outer DAG only.
    const top = dagTemplates(outer, `${name}-groups`);
    top[0] = { ...top[0], name };
    return [...top, ...inner];
  }

  export function marshalClaim(settings: ISettings): IClaimTemplate {
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

  function claimFor(volume: IVolume, name: string, what: string): IClaimTemplate {
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
    const spec: IClaimTemplate['spec'] = {
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

  /**
   * The step templates, shared: steps whose templates would be identical (same image, limits,
   * secrets, pod labels and annotations, metrics or not) use one, named `chard-step`,
   * `chard-step-2`, ... (never a step id: the run monitor matches pods to steps by task name,
   * else template name). Each carries the bootstrap and the specs of its own steps (`specs`:
   * each step's spec, in plan order) in its command line; `specHash` names each step's spec in
   * its template's bundle.
   */
  export function stepTemplates(
    plan: IPlan,
    settings: ISettings,
    workspaceMounts: IVolumeMount[],
    allowed: Set<string>,
    stepIds: ReadonlySet<string>,
    specs: readonly string[]
  ): { templates: ITemplate[]; templateOf: Map<string, string>; specHash: Map<string, string> } {
    const templates: ITemplate[] = [];
    const byKey = new Map<string, string>();
    const templateOf = new Map<string, string>();
    const specsOf = new Map<string, string[]>();
    const taken = new Set(stepIds);
    plan.steps.forEach((step, i) => {
      const body = stepTemplate(plan, step, settings, workspaceMounts, allowed);
      const key = canonicalJson(body);
      let name = byKey.get(key);
      if (name === undefined) {
        name = freeName(ArgoNames.STEP_TEMPLATE, taken);
        taken.add(name);
        byKey.set(key, name);
        templates.push({ name, ...body });
        specsOf.set(name, []);
      }
      templateOf.set(step.id, name);
      specsOf.get(name)?.push(specs[i]);
    });
    const specHash = new Map<string, string>();
    const hashOf = new Map<string, string>();
    for (const template of templates) {
      const bundle = specBundle(specsOf.get(template.name) ?? []);
      (specsOf.get(template.name) ?? []).forEach((spec, i) => hashOf.set(spec, bundle.hashes[i]));
      const container = template.container as IContainer;
      const [python, ...rest] = container.command ?? [];
      container.command = [
        python,
        '-c',
        BOOTSTRAP_SOURCE,
        ...chunk(bundle.data).flatMap(c => ['--spec-bundle-zb64', c]),
        ...rest
      ];
    }
    plan.steps.forEach((step, i) => specHash.set(step.id, hashOf.get(specs[i]) as string));
    return { templates, templateOf, specHash };
  }

  /** JSON with object keys sorted, so equal templates give equal keys. */
  function canonicalJson(value: unknown): string {
    return JSON.stringify(value, (_key, v: unknown) =>
      v !== null && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>).sort(([a], [b]) => compareText(a, b))
          )
        : v
    );
  }

  /** A step's container template, without its name; the step's spec arrives by parameter. */
  function stepTemplate(
    plan: IPlan,
    step: IStep,
    settings: ISettings,
    workspaceMounts: IVolumeMount[],
    allowed: Set<string>
  ): Omit<ITemplate, 'name'> {
    const specHash = `{{inputs.parameters.${ArgoNames.SPEC}}}`;
    allowed.add(specHash);
    // The bootstrap and the specs go after `python3` once templates are shared.
    // --outputs-to-log: what the step shows comes back in its log (the data volume does not).
    const command = [
      'python3',
      '--spec-sha256',
      specHash,
      '--data-dir',
      ArgoPaths.DATA,
      '--outputs-to-log'
    ];
    // Every pipeline parameter, so that steps reading different ones share a template (the
    // runtime ignores a --param its step does not read).
    for (const { name } of settings.parameters) {
      const arg = `${name}={{workflow.parameters.${name}}}`;
      allowed.add(arg);
      command.push('--param', arg);
    }
    if (step.metrics.length > 0) {
      command.push('--metrics-file', ArgoPaths.METRICS);
    }

    const container: IContainer = {
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

    const template: Omit<ITemplate, 'name'> = {
      inputs: { parameters: [{ name: ArgoNames.SPEC }] },
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

  function envFromSecrets(step: IStep): NonNullable<IContainer['env']> {
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
