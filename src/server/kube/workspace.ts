/**
 * The notebook's workspace: which PVCs to carry into the pipeline, and where they are mounted.
 * In a notebook pod they are read from the pod itself (as Kale's podutils does); outside, from
 * the notebook's volumes or `--snapshot-pvc NAME[:MOUNT_PATH]`.
 */
import { isRecord } from '../../core/notebook.js';
import type { IPlan } from '../../core/plan.js';
import type { IKubeClient, IKubeObject } from './client.js';
import { PODS, PVCS } from './client.js';
import { KubeApiError } from './errors.js';

export interface IWorkspaceVolume {
  /** The PVC name. */
  pvc: string;
  /** Where the notebook sees it (and where every step will). */
  mountPath: string;
}

export interface INotebookPod {
  name: string;
  /** The notebook container's image: the default step image. */
  image: string | null;
  volumes: IWorkspaceVolume[];
}

/** A workspace problem, one line. */
export class WorkspaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

/**
 * Read the notebook pod: its image and the PVCs its notebook container mounts. The notebook
 * container is the one named like the notebook (`notebook-name` label, as the Kubeflow notebook
 * controller names it), else the one named like the pod's StatefulSet, else the first one.
 */
export function describeNotebookPod(pod: IKubeObject): INotebookPod {
  const meta = pod.metadata ?? {};
  const spec = isRecord(pod.spec) ? pod.spec : {};
  const containers = records(spec.containers);
  const name = meta.name ?? '';
  const wanted = [meta.labels?.['notebook-name'], name.replace(/-\d+$/, ''), name].filter(
    (n): n is string => typeof n === 'string' && n.length > 0
  );
  const container =
    wanted.map(w => containers.find(c => c.name === w)).find(c => c !== undefined) ?? containers[0];
  const claims = new Map<string, string>();
  for (const v of records(spec.volumes)) {
    const pvc = isRecord(v.persistentVolumeClaim) ? str(v.persistentVolumeClaim.claimName) : null;
    const volName = str(v.name);
    if (pvc && volName) {
      claims.set(volName, pvc);
    }
  }
  const volumes: IWorkspaceVolume[] = [];
  for (const m of records(container?.volumeMounts)) {
    const volName = str(m.name);
    const mountPath = str(m.mountPath);
    const pvc = volName ? claims.get(volName) : undefined;
    if (pvc && mountPath && !volumes.some(v => v.pvc === pvc)) {
      volumes.push({ pvc, mountPath });
    }
  }
  return { name, image: container ? str(container.image) : null, volumes };
}

/** Read this pod (in-cluster: HOSTNAME) and describe it. */
export async function readNotebookPod(client: IKubeClient, podName: string): Promise<INotebookPod> {
  try {
    return describeNotebookPod(await client.get(PODS, podName));
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) {
      throw new WorkspaceError(
        `cannot find the notebook's own pod "${podName}" in namespace "${client.namespace}" ` +
          '(HOSTNAME is not the pod name?); pass --snapshot-pvc NAME:MOUNT_PATH or --no-workspace'
      );
    }
    throw error;
  }
}

/** Parse `--snapshot-pvc NAME[:MOUNT_PATH]` values; a missing mount path comes from the plan. */
export function parseSnapshotPvc(values: string[], plan: IPlan): IWorkspaceVolume[] {
  const out: IWorkspaceVolume[] = [];
  for (const value of values) {
    const at = value.indexOf(':');
    const pvc = at < 0 ? value : value.slice(0, at);
    let mountPath = at < 0 ? '' : value.slice(at + 1);
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(pvc) || pvc.length > 253) {
      throw new WorkspaceError(
        `--snapshot-pvc ${JSON.stringify(value)}: "${pvc}" is not a PVC name (expected NAME[:MOUNT_PATH])`
      );
    }
    if (!mountPath) {
      mountPath = plan.pipeline.volumes.find(v => v.name === pvc)?.mountPoint ?? '';
    }
    if (!mountPath) {
      throw new WorkspaceError(
        `--snapshot-pvc ${pvc}: no mount path given and the notebook does not declare one ` +
          `(use --snapshot-pvc ${pvc}:/home/jovyan)`
      );
    }
    if (!mountPath.startsWith('/')) {
      throw new WorkspaceError(`--snapshot-pvc ${value}: the mount path must be absolute`);
    }
    out.push({ pvc, mountPath });
  }
  return out;
}

/** The existing claims the notebook metadata declares (Kale `type: pvc`). */
export function planWorkspace(plan: IPlan): IWorkspaceVolume[] {
  return plan.pipeline.volumes
    .filter(v => v.type === 'pvc' && v.name && v.mountPoint)
    .map(v => ({ pvc: v.name, mountPath: v.mountPoint }));
}

/** Facts about a PVC that decide how it can be carried into steps. */
export interface IClaimInfo {
  name: string;
  storageClass: string | null;
  accessModes: string[];
  /** Requested or bound size, whichever is larger, as a quantity string. */
  size: string | null;
}

export async function readClaim(client: IKubeClient, name: string): Promise<IClaimInfo> {
  let pvc: IKubeObject;
  try {
    pvc = await client.get(PVCS, name);
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) {
      throw new WorkspaceError(
        `the workspace PVC "${name}" does not exist in namespace "${client.namespace}"`
      );
    }
    throw error;
  }
  const spec = isRecord(pvc.spec) ? pvc.spec : {};
  const status = isRecord(pvc.status) ? pvc.status : {};
  const requested =
    isRecord(spec.resources) && isRecord(spec.resources.requests)
      ? str(spec.resources.requests.storage)
      : null;
  const capacity = isRecord(status.capacity) ? str(status.capacity.storage) : null;
  return {
    name,
    storageClass: str(spec.storageClassName),
    accessModes: Array.isArray(spec.accessModes)
      ? spec.accessModes.filter((m): m is string => typeof m === 'string')
      : [],
    size: largerQuantity(requested, capacity)
  };
}

const UNITS: Record<string, number> = {
  '': 1,
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

/** Bytes in a Kubernetes quantity (`10Gi`, `500M`, `1.5e9`), or null when unreadable. */
export function quantityBytes(quantity: string): number | null {
  const m = /^([0-9]+(?:\.[0-9]+)?(?:[eE][0-9]+)?)([kMGTPE]i?|)$/.exec(quantity.trim());
  if (!m || UNITS[m[2]] === undefined) {
    return null;
  }
  return Number(m[1]) * UNITS[m[2]];
}

/** The larger of two quantities (either may be missing). */
export function largerQuantity(a: string | null, b: string | null): string | null {
  if (!a || !b) {
    return a ?? b;
  }
  const ab = quantityBytes(a);
  const bb = quantityBytes(b);
  if (ab === null || bb === null) {
    return a;
  }
  return bb > ab ? b : a;
}

/** Can the live PVC be mounted read-only by steps on any node while the notebook uses it? */
export function liveMountable(claim: IClaimInfo): boolean {
  return claim.accessModes.includes('ReadOnlyMany') || claim.accessModes.includes('ReadWriteMany');
}
