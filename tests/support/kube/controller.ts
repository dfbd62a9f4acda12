/**
 * A small controller that plays, inside the tests, the parts of a cluster Chard depends on:
 * - Argo's workflow controller: Workflow Pending -> Running -> Succeeded/Failed, status.nodes per DAG
 *   task in dependency order, one Pod per step (named as Argo names them) with logs, failFast on a
 *   failed step (descendants Omitted), `spec.shutdown: Terminate|Stop`, `spec.suspend` (no step
 *   starts while it is true), invalid-spec failures, the volumeClaimTemplates' PVCs, and steps
 *   waiting (Pending) while a PVC they mount does not exist or is not bound;
 * - the CSI snapshot controller: VolumeSnapshot -> readyToUse with restoreSize = the source PVC's size;
 * - the PVC binder/provisioner: PVC (also one restored from a VolumeSnapshot dataSource) -> Bound.
 * Every status write goes through the store, so watchers see it.
 */
import { PodLogs } from './server.js';
import {
  IResourceType,
  JsonObject,
  ResourceRegistry,
  VOLUME_SNAPSHOT_CLASSES,
  VOLUME_SNAPSHOTS,
  WORKFLOWS
} from './resources.js';
import {
  Store,
  clone,
  deepEqual,
  metadataOf,
  nameOf,
  namespaceOf,
  timestamp,
  uidOf
} from './store.js';

export interface IControllerOptions {
  /** Play Argo's workflow controller. */
  argo?: boolean;
  /** Play the CSI snapshot controller and the PVC binder. */
  snapshots?: boolean;
  /** How long each step runs (default 60 ms). */
  stepDelayMs?: number;
  /** Task names (DAG task / step names) that fail. */
  failSteps?: string[];
  /** How long a VolumeSnapshot takes to become readyToUse (default 50 ms). */
  snapshotReadyDelayMs?: number;
  /** Main-container log of a step, by task name (default: two lines naming the step). */
  stepLogs?: Record<string, string>;
  /** A dynamic provisioner binds plain PVCs (default true when `snapshots`); false: they stay Pending. */
  provisioner?: boolean;
}

const PODS: Pick<IResourceType, 'group' | 'version' | 'plural'> = {
  group: '',
  version: 'v1',
  plural: 'pods'
};
const PVCS: Pick<IResourceType, 'group' | 'version' | 'plural'> = {
  group: '',
  version: 'v1',
  plural: 'persistentvolumeclaims'
};

const EXECUTOR_IMAGE = 'quay.io/argoproj/argoexec:v3.5.5';
const DONE = ['Succeeded', 'Failed', 'Error'];

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function obj(value: unknown): JsonObject {
  return isObject(value) ? value : {};
}

function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The ownerReference Argo puts on what it creates for a Workflow. */
function controllerRef(wf: JsonObject): JsonObject {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    name: nameOf(wf),
    uid: uidOf(wf),
    controller: true,
    blockOwnerDeletion: true
  };
}

/** Argo's node-id hash: FNV-1a 32-bit, decimal. */
export function fnv32a(text: string): string {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return String(hash >>> 0);
}

/** Argo's (POD_NAMES=v2) pod name for a node. */
export function argoPodName(workflow: string, templateName: string, nodeName: string): string {
  const hash = fnv32a(nodeName);
  let prefix = `${workflow}-${templateName}`;
  const max = 253 - hash.length - 1;
  if (prefix.length > max) {
    prefix = prefix.slice(0, max);
  }
  return `${prefix}-${hash}`;
}

const SUFFIXES: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60
};

/** Bytes in a Kubernetes quantity (`1Gi`, `500M`), NaN when unparsable. */
export function quantityBytes(quantity: unknown): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(quantity));
  if (!m || SUFFIXES[m[2]] === undefined) {
    return NaN;
  }
  return Number(m[1]) * SUFFIXES[m[2]];
}

interface ITask {
  name: string;
  nodeName: string;
  template: string;
  deps: string[];
}

interface INodeRuntime {
  runningSince?: number;
}

export class Controller {
  private readonly _store: Store;
  private readonly _registry: ResourceRegistry;
  private readonly _logs: PodLogs;
  private readonly _o: IControllerOptions;
  private _timer: NodeJS.Timeout | undefined;
  private readonly _nodes = new Map<string, INodeRuntime>();
  private readonly _pendingSince = new Map<string, number>();
  private readonly _snapshotSeen = new Map<string, number>();

  constructor(
    store: Store,
    registry: ResourceRegistry,
    logs: PodLogs,
    options: IControllerOptions
  ) {
    this._store = store;
    this._registry = registry;
    this._logs = logs;
    this._o = options;
  }

  private get _stepDelay(): number {
    return this._o.stepDelayMs ?? 60;
  }

  start(): void {
    const delays = [this._stepDelay, this._o.snapshotReadyDelayMs ?? 50];
    const tick = Math.max(5, Math.min(50, Math.floor(Math.min(...delays) / 4)));
    this._timer = setInterval(() => this.reconcile(), tick);
  }

  stop(): void {
    if (this._timer) {
      clearInterval(this._timer);
      this._timer = undefined;
    }
  }

  /** One pass over everything the controller owns. */
  reconcile(): void {
    if (this._o.snapshots) {
      this._reconcileSnapshots();
      this._reconcilePvcs();
    }
    if (this._o.argo) {
      const wfType = this._type(WORKFLOWS);
      if (wfType) {
        for (const wf of this._store.list(wfType)) {
          this._reconcileWorkflow(wfType, wf);
        }
      }
    }
  }

  private _type(t: Pick<IResourceType, 'group' | 'version' | 'plural'>): IResourceType | undefined {
    return this._registry.find(t.group, t.version, t.plural);
  }

  // ---- snapshots and PVCs -------------------------------------------------------------------

  private _pvc(namespace: string, name: string): JsonObject | undefined {
    const t = this._type(PVCS);
    return t ? this._store.get(t, namespace, name) : undefined;
  }

  private _bound(pvc: JsonObject): boolean {
    const phase = obj(pvc.status).phase;
    return phase === undefined || phase === 'Bound';
  }

  private _reconcileSnapshots(): void {
    const vsType = this._type(VOLUME_SNAPSHOTS);
    if (!vsType) {
      return;
    }
    const classType = this._type(VOLUME_SNAPSHOT_CLASSES);
    const classes = classType ? this._store.list(classType) : [];
    const now = Date.now();
    for (const vs of this._store.list(vsType)) {
      const status = obj(vs.status);
      if (status.readyToUse === true) {
        continue;
      }
      const uid = uidOf(vs);
      const seen = this._snapshotSeen.get(uid) ?? now;
      this._snapshotSeen.set(uid, seen);
      const spec = obj(vs.spec);
      const source = obj(spec.source);
      const className = str(spec.volumeSnapshotClassName);
      const ns = namespaceOf(vs);
      let next: JsonObject;
      const cls =
        className !== ''
          ? classes.find(c => nameOf(c) === className)
          : classes.find(
              c =>
                obj(metadataOf(c).annotations)[
                  'snapshot.storage.kubernetes.io/is-default-class'
                ] === 'true'
            );
      const pvcName = str(source.persistentVolumeClaimName);
      const pvc = pvcName ? this._pvc(ns, pvcName) : undefined;
      const error = (message: string): JsonObject => ({
        readyToUse: false,
        error: { message, time: timestamp() }
      });
      if (!cls) {
        next =
          className !== ''
            ? error(
                `Failed to get snapshot class with error volumesnapshotclass.snapshot.storage.k8s.io "${className}" not found`
              )
            : error(
                'Failed to create snapshot content with error cannot find default snapshot class'
              );
      } else if (!pvc) {
        next = error(
          `Failed to create snapshot: failed to get input parameters to create snapshot ${nameOf(vs)}: ` +
            `"persistentvolumeclaims \\"${pvcName}\\" not found"`
        );
      } else if (!this._bound(pvc)) {
        next = error(
          `the PVC ${pvcName} is not yet bound to a PV, will not attempt to take a snapshot`
        );
      } else if (now - seen < (this._o.snapshotReadyDelayMs ?? 50)) {
        next = { boundVolumeSnapshotContentName: `snapcontent-${uid}`, readyToUse: false };
      } else {
        const size =
          obj(obj(pvc.status).capacity).storage ??
          obj(obj(obj(pvc.spec).resources).requests).storage;
        next = {
          boundVolumeSnapshotContentName: `snapcontent-${uid}`,
          creationTime: timestamp(),
          readyToUse: true,
          restoreSize: size
        };
      }
      // Keep an earlier error's time when the error did not change (no write, no watch event).
      const oldError = obj(status.error);
      if (isObject(next.error) && oldError.message === next.error.message) {
        next.error = oldError;
      }
      if (!deepEqual(status, next)) {
        this._store.update(vsType, { ...vs, status: next });
      }
    }
  }

  private _reconcilePvcs(): void {
    const pvcType = this._type(PVCS);
    const vsType = this._type(VOLUME_SNAPSHOTS);
    if (!pvcType) {
      return;
    }
    for (const pvc of this._store.list(pvcType)) {
      const status = obj(pvc.status);
      if (status.phase !== 'Pending') {
        continue;
      }
      const spec = obj(pvc.spec);
      const requested = obj(obj(spec.resources).requests).storage;
      const ds = obj(spec.dataSource ?? spec.dataSourceRef);
      if (ds.kind === 'VolumeSnapshot') {
        const vs = vsType ? this._store.get(vsType, namespaceOf(pvc), str(ds.name)) : undefined;
        const vsStatus = obj(vs?.status);
        if (!vs || vsStatus.readyToUse !== true) {
          continue;
        }
        if (quantityBytes(requested) < quantityBytes(vsStatus.restoreSize)) {
          continue;
        }
      } else if (this._o.provisioner === false) {
        continue;
      }
      const next = clone(pvc);
      obj(next.spec).volumeName = `pvc-${uidOf(pvc)}`;
      next.status = {
        phase: 'Bound',
        accessModes: spec.accessModes,
        capacity: { storage: requested }
      };
      this._store.update(pvcType, next);
    }
  }

  // ---- Argo ---------------------------------------------------------------------------------

  private _reconcileWorkflow(wfType: IResourceType, wf: JsonObject): void {
    const status = obj(wf.status);
    const phase = str(status.phase);
    if (DONE.includes(phase)) {
      return;
    }
    const uid = uidOf(wf);
    const now = Date.now();
    const next = clone(wf);
    const nextStatus: JsonObject = clone(status);
    next.status = nextStatus;
    if (phase === '') {
      nextStatus.phase = 'Pending';
      nextStatus.startedAt = timestamp();
      nextStatus.progress = '0/0';
      this._pendingSince.set(uid, now);
      this._write(wfType, wf, next);
      return;
    }
    const spec = obj(wf.spec);
    const shutdown = str(spec.shutdown);
    const suspended = spec.suspend === true;
    if (phase === 'Pending') {
      if (now - (this._pendingSince.get(uid) ?? 0) < Math.min(20, this._stepDelay)) {
        return;
      }
      const problem = this._invalidSpec(wf);
      if (problem) {
        this._finish(nextStatus, 'Failed', `invalid spec: ${problem}`);
        this._write(wfType, wf, next);
        return;
      }
      nextStatus.phase = 'Running';
      nextStatus.nodes = {};
    }
    // Argo creates the volumeClaimTemplates' PVCs once the workflow runs (also while suspended),
    // before any step: `<workflow>-<template name>`, owned by the workflow.
    if (shutdown === '' && this._createClaims(wf, nextStatus)) {
      this._write(wfType, wf, next);
      return;
    }
    const name = nameOf(wf);
    const tasks = this._tasks(wf);
    const nodes = obj(nextStatus.nodes);
    nextStatus.nodes = nodes;
    const entry = str(spec.entrypoint);
    const single = tasks.length === 1 && tasks[0].nodeName === name;
    if (!single && nodes[name] === undefined) {
      nodes[name] = {
        id: name,
        name,
        displayName: name,
        type: this._template(wf, entry)?.steps !== undefined ? 'Steps' : 'DAG',
        templateName: entry,
        templateScope: `local/${name}`,
        phase: 'Running',
        startedAt: timestamp(),
        children: tasks.filter(t => t.deps.length === 0).map(t => this._nodeId(name, t)),
        progress: `0/${tasks.length}`
      };
    }
    const phaseOf = (t: ITask): string => str(obj(nodes[this._nodeId(name, t)]).phase);

    // Shutdown: running steps are killed, the workflow fails.
    if (shutdown === 'Terminate' || shutdown === 'Stop') {
      for (const t of tasks) {
        if (['Pending', 'Running'].includes(phaseOf(t))) {
          this._endNode(wf, nodes, t, 'Failed', `workflow shutdown with strategy:  ${shutdown}`);
        }
      }
      this._finish(nextStatus, 'Failed', `Stopped with strategy '${shutdown}'`, nodes[name]);
      this._write(wfType, wf, next);
      return;
    }

    // Advance running and pending steps.
    for (const t of tasks) {
      const id = this._nodeId(name, t);
      const node = obj(nodes[id]);
      const rt = this._nodes.get(`${uid}/${id}`) ?? {};
      if (node.phase === 'Pending') {
        const blocked = this._blockedBy(wf, t);
        if (blocked) {
          node.message = blocked;
        } else {
          delete node.message;
          node.phase = 'Running';
          rt.runningSince = now;
          this._nodes.set(`${uid}/${id}`, rt);
          this._setPodPhase(wf, t, 'Running');
        }
      } else if (node.phase === 'Running' && now - (rt.runningSince ?? now) >= this._stepDelay) {
        const fails = (this._o.failSteps ?? []).includes(t.name);
        this._endNode(
          wf,
          nodes,
          t,
          fails ? 'Failed' : 'Succeeded',
          fails ? 'Error (exit code 1)' : undefined
        );
      }
    }

    // A suspended workflow starts no new step (running ones go on); resuming starts them.
    const failed = tasks.filter(t => ['Failed', 'Error'].includes(phaseOf(t)));
    if (failed.length === 0 && !suspended) {
      for (const t of tasks) {
        if (
          phaseOf(t) === '' &&
          t.deps.every(d => tasks.some(x => x.name === d && phaseOf(x) === 'Succeeded'))
        ) {
          this._startNode(wf, nodes, t);
        }
      }
    }
    const active = tasks.some(t => ['Pending', 'Running'].includes(phaseOf(t)));
    const succeeded = tasks.filter(t => phaseOf(t) === 'Succeeded').length;
    if (!single) {
      obj(nodes[name]).progress = `${succeeded}/${tasks.length}`;
    }
    nextStatus.progress = `${succeeded}/${tasks.length}`;
    if (!active) {
      if (failed.length > 0) {
        this._omitDescendants(wf, nodes, tasks, failed);
        const first = this._nodeId(name, failed[0]);
        this._finish(
          nextStatus,
          'Failed',
          single ? 'Error (exit code 1)' : `child '${first}' failed`,
          nodes[name]
        );
      } else if (tasks.every(t => phaseOf(t) === 'Succeeded')) {
        this._finish(nextStatus, 'Succeeded', undefined, nodes[name]);
      }
    }
    this._write(wfType, wf, next);
  }

  private _write(wfType: IResourceType, old: JsonObject, next: JsonObject): void {
    const phase = str(obj(next.status).phase);
    const meta = metadataOf(next);
    const labels = obj(meta.labels);
    labels['workflows.argoproj.io/phase'] = phase;
    labels['workflows.argoproj.io/completed'] = DONE.includes(phase) ? 'true' : 'false';
    meta.labels = labels;
    if (!deepEqual(old, next)) {
      // The controller writes the whole object (Argo's CRD has no status subresource); a concurrent
      // client write in between would be a conflict for real Argo too: re-read and retry next tick.
      const current = this._store.get(wfType, namespaceOf(old), nameOf(old));
      if (current && metadataOf(current).resourceVersion === metadataOf(old).resourceVersion) {
        this._store.update(wfType, next);
      }
    }
  }

  private _finish(status: JsonObject, phase: string, message?: string, root?: unknown): void {
    status.phase = phase;
    status.finishedAt = timestamp();
    if (message !== undefined) {
      status.message = message;
    }
    if (isObject(root)) {
      root.phase = phase;
      root.finishedAt = status.finishedAt;
      if (message !== undefined && phase !== 'Succeeded') {
        root.message = message;
      }
    }
  }

  private _template(wf: JsonObject, name: string): JsonObject | undefined {
    const t = arr(obj(wf.spec).templates).find(x => obj(x).name === name);
    return t === undefined ? undefined : obj(t);
  }

  private _nodeId(workflow: string, t: ITask): string {
    return t.nodeName === workflow ? workflow : `${workflow}-${fnv32a(t.nodeName)}`;
  }

  /** The Pod steps of the entrypoint: DAG tasks, step groups, or the entrypoint itself. */
  private _tasks(wf: JsonObject): ITask[] {
    const name = nameOf(wf);
    const entry = this._template(wf, str(obj(wf.spec).entrypoint));
    if (!entry) {
      return [];
    }
    if (isObject(entry.dag)) {
      return arr(entry.dag.tasks).map(raw => {
        const task = obj(raw);
        const deps = arr(task.dependencies).map(str);
        const depends = str(task.depends);
        for (const m of depends.matchAll(/[A-Za-z0-9_-]+(?:\.[A-Za-z]+)?/g)) {
          deps.push(m[0].split('.')[0]);
        }
        return {
          name: str(task.name),
          nodeName: `${name}.${str(task.name)}`,
          template: str(task.template),
          deps
        };
      });
    }
    if (Array.isArray(entry.steps)) {
      const out: ITask[] = [];
      let previous: string[] = [];
      entry.steps.forEach((group, i) => {
        const current: string[] = [];
        for (const raw of arr(group)) {
          const step = obj(raw);
          out.push({
            name: str(step.name),
            nodeName: `${name}[${i}].${str(step.name)}`,
            template: str(step.template),
            deps: previous
          });
          current.push(str(step.name));
        }
        previous = current;
      });
      return out;
    }
    return [{ name, nodeName: name, template: str(entry.name), deps: [] }];
  }

  /** What Argo's validation would reject before running (message after "invalid spec: "). */
  private _invalidSpec(wf: JsonObject): string | undefined {
    const spec = obj(wf.spec);
    const entry = str(spec.entrypoint);
    if (entry === '') {
      return 'spec.entrypoint is required';
    }
    const template = this._template(wf, entry);
    if (!template) {
      return `spec.entrypoint template '${entry}' not found`;
    }
    const tasks = this._tasks(wf);
    const names = new Set(tasks.map(t => t.name));
    for (const t of tasks) {
      if (!this._template(wf, t.template)) {
        return `templates.${entry}.tasks.${t.name} template name '${t.template}' undefined`;
      }
      for (const d of t.deps) {
        if (!names.has(d)) {
          return `templates.${entry}.tasks.${t.name} dependency '${d}' not defined`;
        }
      }
    }
    // Cycle check (Kahn).
    const remaining = new Map(tasks.map(t => [t.name, new Set(t.deps)]));
    let progressed = true;
    while (remaining.size > 0 && progressed) {
      progressed = false;
      for (const [n, deps] of remaining) {
        if ([...deps].every(d => !remaining.has(d))) {
          remaining.delete(n);
          progressed = true;
        }
      }
    }
    if (remaining.size > 0) {
      return `templates.${entry} dependency cycle detected: ${[...remaining.keys()].join(' -> ')}`;
    }
    return undefined;
  }

  /** The volumes a step's pod gets: the workflow's, the template's, the created claims. */
  private _volumes(wf: JsonObject, template: JsonObject): unknown[] {
    return [
      ...arr(obj(wf.spec).volumes),
      ...arr(template.volumes),
      ...arr(obj(wf.status).persistentVolumeClaims)
    ];
  }

  /**
   * Create the PVCs of `spec.volumeClaimTemplates` not created yet and list them in
   * `status.persistentVolumeClaims` (as Argo's createPVCs). True when the status changed.
   */
  private _createClaims(wf: JsonObject, status: JsonObject): boolean {
    const templates = arr(obj(wf.spec).volumeClaimTemplates).map(obj);
    const created = arr(status.persistentVolumeClaims);
    const pvcType = this._type(PVCS);
    if (!pvcType || templates.length === created.length) {
      return false;
    }
    const name = nameOf(wf);
    const ns = namespaceOf(wf);
    status.persistentVolumeClaims = templates.map(template => {
      const ref = str(metadataOf(template).name);
      const claim = `${name}-${ref}`;
      if (!this._store.get(pvcType, ns, claim)) {
        const meta = metadataOf(clone(template));
        this._store.create(pvcType, {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: {
            ...meta,
            name: claim,
            namespace: ns,
            labels: { ...obj(meta.labels), 'workflows.argoproj.io/workflow': name },
            ownerReferences: [controllerRef(wf)]
          },
          spec: clone(obj(template.spec)),
          // Without the binder (`snapshots` off) storage is not modelled: claims are born Bound.
          status: { phase: this._o.snapshots ? 'Pending' : 'Bound' }
        });
      }
      return { name: ref, persistentVolumeClaim: { claimName: claim } };
    });
    return true;
  }

  /** Why a step's pod cannot start yet (a mounted PVC missing or unbound), or undefined. */
  private _blockedBy(wf: JsonObject, t: ITask): string | undefined {
    const template = this._template(wf, t.template) ?? {};
    const container = obj(template.container ?? template.script);
    const mounted = arr(container.volumeMounts).map(m => str(obj(m).name));
    const volumes = this._volumes(wf, template).map(obj);
    const claimTemplates = arr(obj(wf.spec).volumeClaimTemplates).map(c =>
      str(metadataOf(obj(c)).name)
    );
    for (const mount of mounted) {
      if (claimTemplates.includes(mount) && !volumes.some(v => v.name === mount)) {
        return `volume claim template "${mount}" has no PVC yet`;
      }
      const volume = volumes.find(v => v.name === mount);
      const claim = str(obj(volume?.persistentVolumeClaim).claimName);
      if (claim === '') {
        continue;
      }
      const pvc = this._pvc(namespaceOf(wf), claim);
      if (!pvc) {
        return `Unschedulable: 0/1 nodes are available: persistentvolumeclaim "${claim}" not found.`;
      }
      if (!this._bound(pvc)) {
        return 'Unschedulable: 0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.';
      }
    }
    return undefined;
  }

  private _startNode(wf: JsonObject, nodes: JsonObject, t: ITask): void {
    const name = nameOf(wf);
    const id = this._nodeId(name, t);
    const dependents = this._tasks(wf).filter(x => x.deps.includes(t.name));
    nodes[id] = {
      id,
      name: t.nodeName,
      displayName: t.name,
      type: 'Pod',
      templateName: t.template,
      templateScope: `local/${name}`,
      phase: 'Pending',
      boundaryID: t.nodeName === name ? undefined : name,
      startedAt: timestamp(),
      progress: '0/1',
      hostNodeName: 'fake-node-1',
      children: dependents.map(x => this._nodeId(name, x))
    };
    if (nodes[id] !== undefined && obj(nodes[id]).boundaryID === undefined) {
      delete obj(nodes[id]).boundaryID;
    }
    this._createPod(wf, t, id);
  }

  private _endNode(
    wf: JsonObject,
    nodes: JsonObject,
    t: ITask,
    phase: string,
    message?: string
  ): void {
    const id = this._nodeId(nameOf(wf), t);
    const node = obj(nodes[id]);
    node.phase = phase;
    node.finishedAt = timestamp();
    node.progress = phase === 'Succeeded' ? '1/1' : '0/1';
    if (message !== undefined) {
      node.message = message;
    }
    node.outputs = { exitCode: phase === 'Succeeded' ? '0' : '1' };
    nodes[id] = node;
    this._setPodPhase(wf, t, phase, message);
  }

  private _omitDescendants(
    wf: JsonObject,
    nodes: JsonObject,
    tasks: ITask[],
    failed: ITask[]
  ): void {
    const name = nameOf(wf);
    const down = new Set(failed.map(t => t.name));
    let grew = true;
    while (grew) {
      grew = false;
      for (const t of tasks) {
        if (!down.has(t.name) && t.deps.some(d => down.has(d))) {
          down.add(t.name);
          grew = true;
        }
      }
    }
    for (const t of tasks) {
      const id = this._nodeId(name, t);
      if (down.has(t.name) && nodes[id] === undefined) {
        nodes[id] = {
          id,
          name: t.nodeName,
          displayName: t.name,
          type: 'Skipped',
          templateName: t.template,
          templateScope: `local/${name}`,
          phase: 'Omitted',
          boundaryID: name,
          message: 'omitted: depends condition not met',
          startedAt: timestamp(),
          finishedAt: timestamp()
        };
      }
    }
  }

  private _createPod(wf: JsonObject, t: ITask, nodeId: string): void {
    const podType = this._type(PODS);
    if (!podType) {
      return;
    }
    const name = nameOf(wf);
    const ns = namespaceOf(wf);
    const template = this._template(wf, t.template) ?? {};
    const main = obj(clone(template.container ?? template.script ?? {}));
    main.name = 'main';
    if (typeof main.image !== 'string') {
      main.image = 'busybox';
    }
    const podName = t.nodeName === name ? name : argoPodName(name, t.template, t.nodeName);
    const volumes = this._volumes(wf, template);
    const pod: JsonObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: podName,
        namespace: ns,
        labels: {
          'workflows.argoproj.io/workflow': name,
          'workflows.argoproj.io/completed': 'false'
        },
        annotations: {
          'workflows.argoproj.io/node-name': t.nodeName,
          'workflows.argoproj.io/node-id': nodeId
        },
        ownerReferences: [controllerRef(wf)]
      },
      spec: {
        containers: [{ name: 'wait', image: EXECUTOR_IMAGE }, main],
        volumes,
        restartPolicy: 'Never',
        nodeName: 'fake-node-1'
      },
      status: { phase: 'Pending' }
    };
    if (!this._store.get(podType, ns, podName)) {
      this._store.create(podType, pod);
    }
  }

  private _setPodPhase(wf: JsonObject, t: ITask, phase: string, message?: string): void {
    const podType = this._type(PODS);
    if (!podType) {
      return;
    }
    const name = nameOf(wf);
    const ns = namespaceOf(wf);
    const podName = t.nodeName === name ? name : argoPodName(name, t.template, t.nodeName);
    const pod = this._store.get(podType, ns, podName);
    if (!pod) {
      return;
    }
    if (phase === 'Running') {
      const log =
        this._o.stepLogs?.[t.name] ?? `step ${t.name}: started\nstep ${t.name}: finished\n`;
      this._logs.set(podName, 'main', log, ns);
      this._logs.set(
        podName,
        'wait',
        `time="${timestamp()}" level=info msg="Starting Workflow Executor" version=v3.5.5\n`,
        ns
      );
    } else if (phase === 'Failed') {
      this._logs.append(podName, 'main', message === undefined ? '' : `${message}\n`, ns);
    }
    const status: JsonObject = { ...obj(pod.status), phase };
    if (message !== undefined) {
      status.message = message;
    }
    const labels = obj(metadataOf(pod).labels);
    if (phase === 'Succeeded' || phase === 'Failed') {
      labels['workflows.argoproj.io/completed'] = 'true';
    }
    metadataOf(pod).labels = labels;
    this._store.update(podType, { ...pod, status });
  }
}
