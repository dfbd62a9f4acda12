/**
 * TensorBoard on a cluster: a Kubeflow `Tensorboard` resource (tensorboard.kubeflow.org/v1alpha1)
 * on the run's volume (`spec.logspath: pvc://<claim>/<path>`), which Kubeflow's Tensorboard
 * controller serves at `/tensorboard/<namespace>/<name>/` behind Kubeflow's own authentication.
 * Chard creates it, waits until it serves (`status.readyReplicas >= 1`), and deletes it when the
 * user is done. Kubeflow's controller copies `readyReplicas` from the Tensorboard's Deployment;
 * its `conditions[].deploymentState` is only the type of the Deployment's first condition
 * (`Available` from the start, with status False while the pod starts), so it says nothing about
 * readiness.
 */
import { randomBytes } from 'node:crypto';
import { ApiException, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { IKubeClient, IKubeObject, IResource } from '../kube/client.js';
import { apiVersionOf } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';

export const TENSORBOARDS: IResource = {
  group: 'tensorboard.kubeflow.org',
  version: 'v1alpha1',
  plural: 'tensorboards',
  kind: 'Tensorboard'
};

/** The label Chard puts on the Tensorboards it creates (and the run they show). */
export const RUN_LABEL = 'chard.dev/run';

export type ClusterTensorBoardErrorCode =
  'tensorboard-not-in-cluster' | 'tensorboard-failed' | 'tensorboard-timeout';

export class ClusterTensorBoardError extends Error {
  constructor(
    readonly code: ClusterTensorBoardErrorCode,
    message: string
  ) {
    super(message);
    this.name = 'ClusterTensorBoardError';
  }
}

/** A Tensorboard resource Chard created. */
export interface IClusterTensorBoard {
  name: string;
  namespace: string;
  logspath: string;
  /** Where Kubeflow serves it (an absolute path on the Kubeflow host). */
  url: string;
}

/** `pvc://<claim>/<path>` (path relative to the volume's root, no leading slash). */
export function pvcLogsPath(claim: string, subPath: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(claim)) {
    throw new ClusterTensorBoardError('tensorboard-failed', `not a volume claim name: ${claim}`);
  }
  const parts = subPath.split('/').filter(p => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw new ClusterTensorBoardError(
      'tensorboard-failed',
      `the log path leaves the volume: ${subPath}`
    );
  }
  return `pvc://${claim}/${parts.join('/')}`;
}

/** Kubeflow's path of a Tensorboard. */
export function kubeflowTensorBoardUrl(namespace: string, name: string): string {
  return `/tensorboard/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/`;
}

/** The Tensorboard object for a run's logs. */
export function tensorBoardManifest(options: {
  name: string;
  namespace: string;
  logspath: string;
  run?: string;
}): IKubeObject {
  return {
    apiVersion: apiVersionOf(TENSORBOARDS),
    kind: TENSORBOARDS.kind,
    metadata: {
      name: options.name,
      namespace: options.namespace,
      labels: {
        'app.kubernetes.io/managed-by': 'chard',
        ...(options.run
          ? { [RUN_LABEL]: options.run.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63) }
          : {})
      }
    },
    spec: { logspath: options.logspath }
  };
}

/** Whether a Tensorboard's status says it serves. */
export function isReady(object: IKubeObject): boolean {
  const status = object.status as { readyReplicas?: unknown } | undefined;
  return typeof status?.readyReplicas === 'number' && status.readyReplicas >= 1;
}

/**
 * Whether the API server serves Tensorboards, asked to discovery
 * (`/apis/tensorboard.kubeflow.org/v1alpha1`): a real API server answers a request for a resource
 * it does not serve with a plain-text 404 that says nothing about the object.
 */
export async function servesTensorboards(kubeConfig: KubeConfig): Promise<boolean> {
  try {
    const list = await kubeConfig.makeApiClient(CustomObjectsApi).getAPIResources({
      group: TENSORBOARDS.group,
      version: TENSORBOARDS.version
    });
    return (list.resources ?? []).some(r => r.name === TENSORBOARDS.plural);
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) {
      return false;
    }
    return true; // discovery itself failed: do not guess
  }
}

/** A 404 on create: either no such CRD (ask discovery) or no such namespace. */
async function isNotInstalled(error: unknown, served?: () => Promise<boolean>): Promise<boolean> {
  if (!(error instanceof KubeApiError) || error.status !== 404) {
    return false;
  }
  if (error.reason === 'NotInstalled') {
    return true;
  }
  return served ? !(await served()) : error.reason === null;
}

export namespace ClusterTensorBoards {
  export interface IOptions {
    client: IKubeClient;
    /** How long to wait for the controller (default 5 min). */
    readyTimeoutMs?: number;
    /** Poll interval while waiting (default 1 s). */
    pollMs?: number;
    /** Progress messages. */
    onProgress?: (message: string) => void;
    /** Discovery: whether the server serves Tensorboards (see `servesTensorboards`). */
    served?: () => Promise<boolean>;
  }
}

export class ClusterTensorBoards {
  constructor(options: ClusterTensorBoards.IOptions) {
    this._options = options;
  }

  /** Create a Tensorboard on `logspath` and wait until it serves. */
  async open(logspath: string, run?: string): Promise<IClusterTensorBoard> {
    const { client } = this._options;
    const name = `chard-tb-${randomBytes(4).toString('hex')}`;
    const namespace = client.namespace;
    try {
      await client.create(TENSORBOARDS, tensorBoardManifest({ name, namespace, logspath, run }));
    } catch (error) {
      if (await isNotInstalled(error, this._options.served)) {
        throw new ClusterTensorBoardError(
          'tensorboard-not-in-cluster',
          'this cluster has no Kubeflow Tensorboard controller (the API server does not serve ' +
            "tensorboards.tensorboard.kubeflow.org/v1alpha1): open the run's logs with TensorBoard " +
            "on this machine instead, or ask the cluster's administrator to install Kubeflow's " +
            'Tensorboard controller'
        );
      }
      throw new ClusterTensorBoardError('tensorboard-failed', Private.message(error));
    }
    const result = { name, namespace, logspath, url: kubeflowTensorBoardUrl(namespace, name) };
    try {
      await this._waitReady(name);
    } catch (error) {
      await this.close(name).catch(() => undefined);
      throw error;
    }
    return result;
  }

  /** Delete a Tensorboard Chard created (gone already: fine). */
  async close(name: string): Promise<void> {
    try {
      await this._options.client.delete(TENSORBOARDS, name);
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) {
        return;
      }
      throw new ClusterTensorBoardError('tensorboard-failed', Private.message(error));
    }
  }

  private async _waitReady(name: string): Promise<void> {
    const timeout = this._options.readyTimeoutMs ?? 5 * 60 * 1000;
    const poll = this._options.pollMs ?? 1000;
    const deadline = Date.now() + timeout;
    let said = false;
    for (;;) {
      const object = await this._options.client.get(TENSORBOARDS, name);
      if (isReady(object)) {
        return;
      }
      if (!said) {
        this._options.onProgress?.(`waiting for Kubeflow to start TensorBoard ${name}`);
        said = true;
      }
      if (Date.now() >= deadline) {
        throw new ClusterTensorBoardError(
          'tensorboard-timeout',
          `Kubeflow did not start TensorBoard ${name} within ${Math.round(timeout / 1000)} s ` +
            '(status.readyReplicas stayed 0): check the Tensorboard controller and that the ' +
            "run's volume can be mounted (a ReadWriteOnce volume in use by another node cannot)"
        );
      }
      await new Promise(resolve => setTimeout(resolve, poll));
    }
  }

  private readonly _options: ClusterTensorBoards.IOptions;
}

namespace Private {
  export function message(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
  }
}
