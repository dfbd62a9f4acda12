/**
 * Submitting a plan as an Argo Workflow. The Workflow's name is derived from the notebook, a
 * content hash of the compiled manifest and an attempt counter, so a retried create, a
 * double-clicked submit or a re-run of the same command attaches to the same unfinished run
 * instead of creating a second one.
 *
 * Snapshots are owned by the Workflow (deleting the run deletes them): the Workflow is created
 * first with `spec.suspend: true`, the snapshots are created with an ownerReference to it, and
 * once they are ready to use the Workflow is resumed. Argo creates the restored PVCs from the
 * Workflow's volumeClaimTemplates and owns them. This needs no `patch` on volumesnapshots, and a
 * submit interrupted while snapshotting is resumed by the next identical submit.
 */
import type { WorkspaceMode } from '../../core/api.js';
import { isRecord } from '../../core/notebook.js';
import { createHash } from 'node:crypto';
import type { IPlan, IVolume } from '../../core/plan.js';
import type { IRunRecord } from '../../core/runs.js';
import { isFinished } from '../../core/runs.js';
import { dnsLabel } from '../../core/names.js';
import { newRunRecord } from '../common/records.js';
import type { IKubeClient, IKubeObject, IObjectMeta } from './client.js';
import { WORKFLOWS } from './client.js';
import { KubeApiError } from './errors.js';
import { workflowStatus } from './monitor.js';
import type { ISnapshotResult } from './snapshot.js';
import { snapshotName, snapshotWorkspace, SnapshotError } from './snapshot.js';
import type { IClaimInfo, IWorkspaceVolume } from './workspace.js';
import { liveMountable, readClaim, WorkspaceError } from './workspace.js';

export const LABEL_MANAGED = 'app.kubernetes.io/managed-by';
export const LABEL_HASH = 'chard.dev/content-hash';
export const LABEL_ATTEMPT = 'chard.dev/attempt';
export const LABEL_NOTEBOOK = 'chard.dev/notebook';
export const ANNOTATION_PIPELINE = 'chard.dev/pipeline';

/** How the workspace volumes travel into the steps. */
export type { WorkspaceMode };

/** Compiles a plan into an Argo Workflow object (the project's Argo compiler). */
export type WorkflowCompiler = (plan: IPlan) => IKubeObject;

export namespace Submit {
  export interface IOptions {
    client: IKubeClient;
    plan: IPlan;
    /** The notebook path as the user gave it (for the run record). */
    notebook: string;
    compile: WorkflowCompiler;
    workspace: IWorkspaceVolume[];
    mode: WorkspaceMode;
    snapshotClass?: string;
    snapshotTimeoutMs?: number;
    snapshotPollMs?: number;
    context?: string | null;
    onProgress?: (message: string) => void;
  }

  export interface IResult {
    record: IRunRecord;
    /** True when an identical run already existed and this submit attached to it. */
    attached: boolean;
    workflow: IKubeObject;
  }
}

/** JSON with sorted keys: the same object always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The Workflow name for a notebook, content hash and attempt (<= 63 characters). */
export function runName(notebookId: string, hash: string, attempt: number): string {
  return `${dnsLabel(notebookId, 40, 'notebook')}-${hash.slice(0, 10)}-${attempt}`;
}

/** The plan with the workspace volumes as the steps will mount them. */
export function planWithWorkspace(
  plan: IPlan,
  workspace: IWorkspaceVolume[],
  mode: WorkspaceMode,
  snapshots: Map<
    string,
    Pick<ISnapshotResult, 'snapshot' | 'size' | 'storageClass' | 'accessModes'>
  >
): IPlan {
  const names = new Set(workspace.map(w => w.pvc));
  const others = plan.pipeline.volumes.filter(v => !(v.type === 'pvc' && names.has(v.name)));
  const ws: IVolume[] =
    mode === 'none'
      ? []
      : workspace.map(w => {
          const declared = plan.pipeline.volumes.find(v => v.name === w.pvc);
          const base: IVolume = {
            ...declared,
            type: 'pvc',
            name: w.pvc,
            mountPoint: w.mountPath
          };
          if (mode === 'live') {
            return { ...base, readOnly: true };
          }
          const snap = snapshots.get(w.pvc);
          if (!snap) {
            return base;
          }
          const vol: IVolume = { ...base, snapshot: snap.snapshot };
          if (snap.size) {
            vol.size = snap.size;
          }
          if (snap.storageClass) {
            vol.storageClass = snap.storageClass;
          }
          if (snap.accessModes.length > 0) {
            vol.accessModes = snap.accessModes;
          }
          return vol;
        });
  return { ...plan, pipeline: { ...plan.pipeline, volumes: [...others, ...ws] } };
}

/** Whether the Workflow was told to stop (`chard cancel`, or a failed start). */
function shutDown(workflow: IKubeObject): boolean {
  const spec = isRecord(workflow.spec) ? workflow.spec : {};
  return typeof spec.shutdown === 'string' && spec.shutdown !== '';
}

/**
 * Start the suspended Workflow now that its snapshots are ready, unless it was cancelled while it
 * waited: the resume is conditional on the resourceVersion that showed no `shutdown`, so a cancel
 * that lands in between makes it fail (409) and is seen on the next look.
 */
async function resumeUnlessCancelled(
  client: IKubeClient,
  name: string,
  progress: (message: string) => void
): Promise<IKubeObject> {
  for (let attempt = 0; ; attempt++) {
    const current = await client.get(WORKFLOWS, name);
    if (shutDown(current)) {
      throw new KubeApiError(
        `run "${name}" was cancelled while it waited for its snapshots: it was not started`,
        { verb: 'patch', resource: 'workflows.argoproj.io', namespace: client.namespace, name },
        null,
        'Cancelled'
      );
    }
    progress(`snapshots ready; starting Workflow "${name}"`);
    try {
      return await client.patch(WORKFLOWS, name, {
        metadata: { resourceVersion: current.metadata?.resourceVersion },
        spec: { suspend: null }
      });
    } catch (error) {
      if (!(error instanceof KubeApiError) || error.status !== 409 || attempt >= 5) {
        throw error;
      }
    }
  }
}

/** Submit (or attach to) the run of `plan` as an Argo Workflow. */
export async function submitWorkflow(options: Submit.IOptions): Promise<Submit.IResult> {
  const { client, plan } = options;
  const progress = options.onProgress ?? (() => undefined);
  const mode = options.workspace.length === 0 ? 'none' : options.mode;
  const claims: IClaimInfo[] = [];
  if (mode !== 'none') {
    for (const w of options.workspace) {
      claims.push(await readClaim(client, w.pvc));
    }
  }
  if (mode === 'live') {
    const bad = claims.filter(c => !liveMountable(c));
    if (bad.length > 0) {
      throw new WorkspaceError(
        `cannot mount the live PVC ${bad.map(c => `"${c.name}" (${c.accessModes.join('/') || 'no access mode'})`).join(', ')} ` +
          'in the steps: only ReadOnlyMany or ReadWriteMany volumes can be shared with the notebook; ' +
          'snapshot it instead, or use --no-workspace'
      );
    }
  }
  // The content hash: the manifest as compiled without snapshot names (they derive from the
  // run name, which derives from the hash).
  const bare = options.compile(
    planWithWorkspace(plan, options.workspace, mode === 'snapshot' ? 'live' : mode, new Map())
  );
  const hash = createHash('sha256')
    .update(canonicalJson({ mode, manifest: bare }))
    .digest('hex')
    .slice(0, 40);
  const notebookId = plan.pipeline.id || dnsLabel(plan.pipeline.name, 63, 'notebook');
  const existing = await client.list(WORKFLOWS, { labelSelector: `${LABEL_HASH}=${hash}` });
  // The latest attempt of this content: attach while it is unfinished, else start the next.
  const attemptOf = (wf: IKubeObject): number =>
    Number(wf.metadata?.labels?.[LABEL_ATTEMPT] ?? '0') || 0;
  const latest = existing.items.sort((a, b) => attemptOf(a) - attemptOf(b)).pop();
  let attempt = latest ? attemptOf(latest) + 1 : 1;
  let live: IKubeObject | null = null;
  // A run being shut down (cancelled, or stopped because its snapshots failed before it ever
  // started) is not one to attach to, even before a controller has written its final status.
  if (latest && !isFinished(workflowStatus(latest).status) && !shutDown(latest)) {
    live = latest;
    attempt = attemptOf(latest);
  }
  let workflow: IKubeObject;
  let attached = false;
  let name = runName(notebookId, hash, attempt);
  if (live) {
    workflow = live;
    attached = true;
    name = live.metadata?.name ?? name;
    progress(`attaching to the identical run "${name}" that is already in progress`);
  } else {
    for (;;) {
      name = runName(notebookId, hash, attempt);
      const snaps = new Map(
        options.workspace.map((w, i) => [
          w.pvc,
          {
            snapshot: snapshotName(name, i),
            size: claims[i]?.size ?? null,
            storageClass: claims[i]?.storageClass ?? null,
            accessModes: claims[i]?.accessModes ?? []
          }
        ])
      );
      const manifest = options.compile(planWithWorkspace(plan, options.workspace, mode, snaps));
      // The name is ours and the namespace the client's.
      const meta: IObjectMeta = { ...manifest.metadata };
      delete meta.generateName;
      delete meta.namespace;
      const body: IKubeObject = {
        ...manifest,
        metadata: {
          ...meta,
          name,
          labels: {
            ...meta.labels,
            [LABEL_MANAGED]: 'chard',
            [LABEL_HASH]: hash,
            [LABEL_ATTEMPT]: String(attempt),
            [LABEL_NOTEBOOK]: dnsLabel(notebookId, 63, 'notebook')
          },
          annotations: {
            ...meta.annotations,
            [ANNOTATION_PIPELINE]: plan.pipeline.name
          }
        },
        spec: {
          ...(isRecord(manifest.spec) ? manifest.spec : {}),
          ...(mode === 'snapshot' ? { suspend: true } : {})
        }
      };
      progress(`creating Workflow "${name}" in namespace "${client.namespace}"`);
      try {
        workflow = await client.create(WORKFLOWS, body);
        break;
      } catch (error) {
        if (!(error instanceof KubeApiError) || error.status !== 409) {
          throw error;
        }
        // It exists: a retried create whose first try did land, or a concurrent identical
        // submit. Same content hash = the same run: attach to it.
        const found = await client.get(WORKFLOWS, name);
        if (found.metadata?.labels?.[LABEL_HASH] === hash) {
          workflow = found;
          attached = true;
          progress(`Workflow "${name}" already exists with the same content: attaching to it`);
          break;
        }
        attempt++;
        if (attempt > 50) {
          throw error;
        }
      }
    }
  }
  const uid = workflow.metadata?.uid ?? '';
  const spec = isRecord(workflow.spec) ? workflow.spec : {};
  if (
    mode === 'snapshot' &&
    spec.suspend === true &&
    !isFinished(workflowStatus(workflow).status)
  ) {
    try {
      await snapshotWorkspace(client, options.workspace, claims, {
        className: options.snapshotClass,
        timeoutMs: options.snapshotTimeoutMs ?? 600000,
        pollMs: options.snapshotPollMs,
        owner: { name, uid },
        labels: { [LABEL_HASH]: hash },
        onProgress: progress
      });
    } catch (error) {
      if (error instanceof SnapshotError) {
        // Nothing ran yet; stop the suspended Workflow so it does not wait forever.
        await client
          .patch(WORKFLOWS, name, { spec: { shutdown: 'Terminate', suspend: null } })
          .catch(() => undefined);
      }
      throw error;
    }
    workflow = await resumeUnlessCancelled(client, name, progress);
  }
  const record = newRunRecord(plan, name, options.notebook, {
    namespace: client.namespace,
    workflow: name,
    ...(options.context ? { context: options.context } : {})
  });
  return { record, attached, workflow };
}
