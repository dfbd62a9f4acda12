/** Shared pieces of the cluster specs: running the `chard` CLI in-process and a workspace PVC. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { jest } from '@jest/globals';
import { main } from '../../src/cli/main.js';
import type { Json } from '../support/cluster/admin.js';
import type { ICluster } from '../support/cluster/index.js';

export const TRAINING = path.resolve('tests/fixtures/notebooks/training.ipynb');

export interface IRun {
  code: number;
  out: string;
  err: string;
}

/** Run `chard ARGS...` in this process with stdout and stderr captured. */
export async function chard(...args: string[]): Promise<IRun> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/**
 * Run `chard ARGS...` as its own process (bin/chard.js over the built lib/), as a user would in
 * a second terminal while another chard command runs here.
 */
export function chardProcess(...args: string[]): Promise<IRun> {
  return new Promise(resolve => {
    execFile(
      process.execPath,
      [path.resolve('bin/chard.js'), ...args],
      { env: process.env, timeout: 120000 },
      (error, out, err) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, out, err });
      }
    );
  });
}

/** A copy of the training notebook in a fresh folder (its runs are recorded next to it). */
export function trainingNotebook(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-cluster-spec-'));
  const notebook = path.join(dir, 'training.ipynb');
  fs.copyFileSync(TRAINING, notebook);
  return notebook;
}

/**
 * A Bound PVC `name` (5Gi, ReadWriteOnce) as a provisioner would leave it, and a default
 * VolumeSnapshotClass when the VolumeSnapshot CRDs are installed.
 */
export async function workspacePvc(cluster: ICluster, name = 'workspace'): Promise<void> {
  const base = `/api/v1/namespaces/${cluster.namespace}/persistentvolumeclaims`;
  await cluster.admin.ensure(base, {
    metadata: { name },
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'csi-hostpath-sc',
      resources: { requests: { storage: '5Gi' } },
      volumeName: `pv-${name}`
    }
  });
  await cluster.admin.json(
    'PATCH',
    `${base}/${name}/status`,
    { status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '5Gi' } } },
    'application/merge-patch+json'
  );
}

export async function snapshotClass(cluster: ICluster): Promise<void> {
  await cluster.admin.ensure('/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses', {
    apiVersion: 'snapshot.storage.k8s.io/v1',
    kind: 'VolumeSnapshotClass',
    metadata: {
      name: 'csi-hostpath-snapclass',
      annotations: { 'snapshot.storage.kubernetes.io/is-default-class': 'true' }
    },
    driver: 'hostpath.csi.k8s.io',
    deletionPolicy: 'Delete'
  });
}

export function workflowsPath(cluster: ICluster): string {
  return `/apis/argoproj.io/v1alpha1/namespaces/${cluster.namespace}/workflows`;
}

export async function workflows(cluster: ICluster): Promise<Json[]> {
  return (await cluster.admin.get(workflowsPath(cluster))).items as Json[];
}

export async function workflow(cluster: ICluster, name: string): Promise<Json> {
  return cluster.admin.get(`${workflowsPath(cluster)}/${name}`);
}

/** The last line chard wrote to stderr. */
export function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}
