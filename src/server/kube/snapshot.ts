/**
 * Workspace snapshots: one snapshot.storage.k8s.io/v1 VolumeSnapshot per workspace PVC, owned
 * by the run's Workflow, waited on until `readyToUse`. Every way snapshots cannot be had ends in
 * a SnapshotError naming the cause and the alternatives.
 */
import { isRecord } from '../../core/notebook.js';
import type { IKubeClient, IKubeObject, IObjectMeta } from './client.js';
import { VOLUME_SNAPSHOTS } from './client.js';
import { KubeApiError } from './errors.js';
import { sleep } from '../common/retry.js';
import type { IClaimInfo, IWorkspaceVolume } from './workspace.js';
import { largerQuantity, liveMountable } from './workspace.js';

export type SnapshotCause = 'no-crd' | 'no-class' | 'timeout' | 'forbidden' | 'failed';

/** Snapshots cannot be had; the message names the cause and what to do instead. */
export class SnapshotError extends Error {
  readonly cause: SnapshotCause;
  constructor(message: string, cause: SnapshotCause) {
    super(message);
    this.name = 'SnapshotError';
    this.cause = cause;
  }
}

export interface ISnapshotResult {
  volume: IWorkspaceVolume;
  snapshot: string;
  /** Size for the restored PVC: at least the snapshot's restoreSize and the source's size. */
  size: string | null;
  storageClass: string | null;
  accessModes: string[];
}

export namespace Snapshots {
  export interface IOptions {
    /** VolumeSnapshotClass; undefined = the cluster default for the volume's driver. */
    className?: string;
    /** Give up waiting for readyToUse after this long. */
    timeoutMs: number;
    /** Poll interval while waiting. */
    pollMs?: number;
    /** The Workflow that owns the snapshots (deleting it deletes them). */
    owner: { name: string; uid: string };
    /** Labels for the snapshots (run id ...). */
    labels?: Record<string, string>;
    onProgress?: (message: string) => void;
  }
}

/** The snapshot name for workspace volume `index` of run `run`. */
export function snapshotName(run: string, index: number): string {
  return `${run}-ws${index}`;
}

/** What to tell the user instead of a snapshot. */
export function alternatives(claims: IClaimInfo[]): string {
  const live = claims.filter(liveMountable).map(c => c.name);
  const notLive = claims.filter(c => !liveMountable(c));
  const parts: string[] = [];
  if (live.length === claims.length && claims.length > 0) {
    parts.push(
      `--live-pvc to mount ${live.map(n => `"${n}"`).join(', ')} read-only in every step ` +
        '(its access mode allows it)'
    );
  } else if (notLive.length > 0) {
    parts.push(
      `(--live-pvc is not possible: ${notLive
        .map(c => `"${c.name}" is ${c.accessModes.join('/') || 'of unknown access mode'}`)
        .join(', ')}, not ReadOnlyMany or ReadWriteMany)`
    );
  }
  parts.push('--no-workspace to run without the workspace volumes');
  return `Alternatives: ${parts.join('; ')}.`;
}

/**
 * Snapshot each workspace volume and wait until every snapshot is ready to use. `claims` are
 * the source PVCs (same order as `volumes`), used for sizes and for the alternatives.
 */
export async function snapshotWorkspace(
  client: IKubeClient,
  volumes: IWorkspaceVolume[],
  claims: IClaimInfo[],
  options: Snapshots.IOptions
): Promise<ISnapshotResult[]> {
  const fail = (cause: SnapshotCause, what: string): never => {
    throw new SnapshotError(
      `cannot snapshot the workspace: ${what}. ${alternatives(claims)}`,
      cause
    );
  };
  const names: string[] = [];
  for (const [index, volume] of volumes.entries()) {
    const name = snapshotName(options.owner.name, index);
    names.push(name);
    const metadata: IObjectMeta = {
      name,
      labels: { 'app.kubernetes.io/managed-by': 'chard', ...options.labels },
      ownerReferences: [
        {
          apiVersion: 'argoproj.io/v1alpha1',
          kind: 'Workflow',
          name: options.owner.name,
          uid: options.owner.uid
        }
      ]
    };
    const spec: Record<string, unknown> = {
      source: { persistentVolumeClaimName: volume.pvc }
    };
    if (options.className) {
      spec.volumeSnapshotClassName = options.className;
    }
    options.onProgress?.(`snapshotting PVC "${volume.pvc}" as VolumeSnapshot "${name}"`);
    try {
      await client.create(VOLUME_SNAPSHOTS, { metadata, spec });
    } catch (error) {
      if (!(error instanceof KubeApiError)) {
        throw error;
      }
      if (error.status === 409) {
        // Ours from an earlier attempt of this same run (names derive from the run): reuse it.
        const existing = await client.get(VOLUME_SNAPSHOTS, name);
        const source = Private.sourceOf(existing);
        if (source !== volume.pvc) {
          fail('failed', `VolumeSnapshot "${name}" exists but is of PVC "${source}"`);
        }
        continue;
      }
      if (error.status === 404) {
        fail(
          'no-crd',
          'the cluster does not serve snapshot.storage.k8s.io/v1 VolumeSnapshots ' +
            '(no VolumeSnapshot CRD: the CSI external-snapshotter is not installed)'
        );
      }
      if (error.status === 403 || error.status === 401) {
        fail('forbidden', error.message);
      }
      if (error.status === 422 || error.status === 400) {
        fail('failed', error.message);
      }
      throw error;
    }
  }
  const results: ISnapshotResult[] = [];
  const started = Date.now();
  const pollMs = options.pollMs ?? 2000;
  for (const [index, volume] of volumes.entries()) {
    const name = names[index];
    for (;;) {
      let snap: IKubeObject;
      try {
        snap = await client.get(VOLUME_SNAPSHOTS, name);
      } catch (error) {
        if (error instanceof KubeApiError && (error.status === 403 || error.status === 401)) {
          fail('forbidden', error.message);
        }
        throw error;
      }
      const state = Private.stateOf(snap);
      if (state.ready) {
        results.push({
          volume,
          snapshot: name,
          size: largerQuantity(claims[index]?.size ?? null, state.restoreSize),
          storageClass: claims[index]?.storageClass ?? null,
          accessModes: claims[index]?.accessModes ?? []
        });
        break;
      }
      if (state.error) {
        const noClass = /snapshot ?class/i.test(state.error);
        fail(
          noClass ? 'no-class' : 'failed',
          noClass && !options.className
            ? `no VolumeSnapshotClass for PVC "${volume.pvc}" (${state.error}); ` +
                'set a default class in the cluster or name one with --snapshot-class'
            : `VolumeSnapshot "${name}" of PVC "${volume.pvc}" failed: ${state.error}`
        );
      }
      const waited = Date.now() - started;
      if (waited >= options.timeoutMs) {
        fail(
          'timeout',
          `VolumeSnapshot "${name}" of PVC "${volume.pvc}" was not ready to use after ` +
            `${Math.round(waited / 1000)}s (no CSI snapshot controller, or a slow one; ` +
            'raise --snapshot-timeout to wait longer)'
        );
      }
      options.onProgress?.(
        `waiting for VolumeSnapshot "${name}" of PVC "${volume.pvc}" (${Math.round(waited / 1000)}s)`
      );
      await sleep(Math.min(pollMs, options.timeoutMs - waited));
    }
  }
  return results;
}

namespace Private {
  export function sourceOf(snap: IKubeObject): string | null {
    const spec = isRecord(snap.spec) ? snap.spec : {};
    const source = isRecord(spec.source) ? spec.source : {};
    return typeof source.persistentVolumeClaimName === 'string'
      ? source.persistentVolumeClaimName
      : null;
  }

  export function stateOf(snap: IKubeObject): {
    ready: boolean;
    restoreSize: string | null;
    error: string | null;
  } {
    const status = isRecord(snap.status) ? snap.status : {};
    const err = isRecord(status.error) ? status.error : null;
    return {
      ready: status.readyToUse === true,
      restoreSize:
        typeof status.restoreSize === 'string'
          ? status.restoreSize
          : typeof status.restoreSize === 'number'
            ? String(status.restoreSize)
            : null,
      error: err && typeof err.message === 'string' ? err.message : null
    };
  }
}
