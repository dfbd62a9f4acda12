/** Realistic manifests (shaped like Chard's compiled output) for the fake-cluster tests. */

export interface IManifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}

/**
 * A three-step DAG (load -> train -> evaluate) whose steps mount at /home/jovyan the PVC `claim`,
 * or a PVC `restored` from a VolumeSnapshot (a volumeClaimTemplate named `workspace`, as Chard
 * compiles a snapshotted workspace); `suspend` creates it suspended.
 */
export function workflow(
  name: string,
  options: {
    claim?: string;
    restored?: { snapshot: string; size: string };
    suspend?: boolean;
    labels?: Record<string, string>;
  } = {}
): IManifest {
  const mounts =
    options.claim || options.restored ? [{ name: 'workspace', mountPath: '/home/jovyan' }] : [];
  const step = (stepName: string): Record<string, unknown> => ({
    name: stepName,
    container: {
      name: 'main',
      image: 'python:3.11-slim',
      command: ['python3', '-m', 'chard_runtime'],
      args: ['--step', stepName],
      volumeMounts: mounts
    }
  });
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { name, labels: { 'chard.dev/notebook': 'titanic', ...options.labels } },
    spec: {
      entrypoint: 'pipeline',
      serviceAccountName: 'default-editor',
      volumes: options.claim
        ? [{ name: 'workspace', persistentVolumeClaim: { claimName: options.claim } }]
        : [],
      ...(options.restored
        ? {
            volumeClaimTemplates: [
              pvc('workspace', options.restored.size, { name: options.restored.snapshot })
            ]
          }
        : {}),
      ...(options.suspend ? { suspend: true } : {}),
      templates: [
        {
          name: 'pipeline',
          dag: {
            tasks: [
              { name: 'load', template: 'load' },
              { name: 'train', template: 'train', dependencies: ['load'] },
              { name: 'evaluate', template: 'evaluate', dependencies: ['train'] }
            ]
          }
        },
        step('load'),
        step('train'),
        step('evaluate')
      ]
    }
  };
}

export function pvc(name: string, size = '5Gi', dataSource?: { name: string }): IManifest {
  const spec: Record<string, unknown> = {
    accessModes: ['ReadWriteOnce'],
    resources: { requests: { storage: size } }
  };
  if (dataSource) {
    spec.dataSource = {
      apiGroup: 'snapshot.storage.k8s.io',
      kind: 'VolumeSnapshot',
      name: dataSource.name
    };
  }
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name }, spec };
}

export function volumeSnapshot(name: string, claim: string, className?: string): IManifest {
  const spec: Record<string, unknown> = { source: { persistentVolumeClaimName: claim } };
  if (className !== undefined) {
    spec.volumeSnapshotClassName = className;
  }
  return {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshot',
    metadata: { name },
    spec
  };
}

export { waitFor } from '../../support/kube/index.js';
