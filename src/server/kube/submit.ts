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

/**
 * Submit (or attach to) the run of `plan` as an Argo Workflow: read the workspace claims, hash
 * the content, attach to an unfinished identical run or create the next attempt, then (with
 * snapshots) snapshot the volumes and start the suspended Workflow.
 */
export async function submitWorkflow(options: Submit.IOptions): Promise<Submit.IResult> {
  const { client, plan } = options;
  const progress = options.onProgress ?? (() => undefined);
  const mode = options.workspace.length === 0 ? 'none' : options.mode;
  const claims = await Private.readClaims(client, options.workspace, mode);
  const hash = Private.contentHash(options, mode);
  const notebookId = plan.pipeline.id || dnsLabel(plan.pipeline.name, 63, 'notebook');
  const found = await Private.latestAttempt(client, hash);
  let workflow: IKubeObject;
  let attached: boolean;
  if (found.live) {
    workflow = found.live;
    attached = true;
    progress(
      `attaching to the identical run "${workflow.metadata?.name ?? ''}" that is already in progress`
    );
  } else {
    ({ workflow, attached } = await Private.createWorkflow(options, {
      mode,
      claims,
      hash,
      notebookId,
      attempt: found.next,
      progress
    }));
  }
  const name = workflow.metadata?.name ?? '';
  const spec = isRecord(workflow.spec) ? workflow.spec : {};
  if (
    mode === 'snapshot' &&
    spec.suspend === true &&
    !isFinished(workflowStatus(workflow).status)
  ) {
    workflow = await Private.snapshotThenStart(options, workflow, claims, hash, progress);
  }
  const record = newRunRecord(plan, name, options.notebook, {
    namespace: client.namespace,
    workflow: name,
    ...(options.context ? { context: options.context } : {})
  });
  return { record, attached, workflow };
}

namespace Private {
  /** The workspace claims (none without a workspace); live mounts need shareable volumes. */
  export async function readClaims(
    client: IKubeClient,
    workspace: readonly IWorkspaceVolume[],
    mode: WorkspaceMode
  ): Promise<IClaimInfo[]> {
    const claims: IClaimInfo[] = [];
    if (mode === 'none') {
      return claims;
    }
    for (const w of workspace) {
      claims.push(await readClaim(client, w.pvc));
    }
    const bad = mode === 'live' ? claims.filter(c => !liveMountable(c)) : [];
    if (bad.length > 0) {
      throw new WorkspaceError(
        `cannot mount the live PVC ${bad.map(c => `"${c.name}" (${c.accessModes.join('/') || 'no access mode'})`).join(', ')} ` +
          'in the steps: only ReadOnlyMany or ReadWriteMany volumes can be shared with the notebook; ' +
          'snapshot it instead, or use --no-workspace'
      );
    }
    return claims;
  }

  /**
   * The content hash: the manifest as compiled without snapshot names (they derive from the
   * run name, which derives from the hash).
   */
  export function contentHash(options: Submit.IOptions, mode: WorkspaceMode): string {
    const bare = options.compile(
      planWithWorkspace(
        options.plan,
        options.workspace,
        mode === 'snapshot' ? 'live' : mode,
        new Map()
      )
    );
    return createHash('sha256')
      .update(canonicalJson({ mode, manifest: bare }))
      .digest('hex')
      .slice(0, 40);
  }

  const attemptOf = (wf: IKubeObject): number =>
    Number(wf.metadata?.labels?.[LABEL_ATTEMPT] ?? '0') || 0;

  /**
   * The latest attempt of this content: to attach to while it is unfinished, else the number of
   * the next. A run being shut down (cancelled, or stopped because its snapshots failed before
   * it ever started) is not one to attach to, even before a controller wrote its final status.
   */
  export async function latestAttempt(
    client: IKubeClient,
    hash: string
  ): Promise<{ live: IKubeObject | null; next: number }> {
    const existing = await client.list(WORKFLOWS, { labelSelector: `${LABEL_HASH}=${hash}` });
    const latest = existing.items.sort((a, b) => attemptOf(a) - attemptOf(b)).pop();
    if (latest && !isFinished(workflowStatus(latest).status) && !shutDown(latest)) {
      return { live: latest, next: attemptOf(latest) };
    }
    return { live: null, next: latest ? attemptOf(latest) + 1 : 1 };
  }

  interface ICreate {
    mode: WorkspaceMode;
    claims: readonly IClaimInfo[];
    hash: string;
    notebookId: string;
    attempt: number;
    progress: (message: string) => void;
  }

  /**
   * Create attempt `attempt` (suspended when it waits for snapshots). A name taken by the same
   * content is the same run (a retried create whose first try landed, or a concurrent identical
   * submit): attach to it; taken by other content, try the next attempt.
   */
  export async function createWorkflow(
    options: Submit.IOptions,
    create: ICreate
  ): Promise<{ workflow: IKubeObject; attached: boolean }> {
    const { client } = options;
    for (let attempt = create.attempt; ; attempt++) {
      const name = runName(create.notebookId, create.hash, attempt);
      const body = workflowBody(options, create, name, attempt);
      create.progress(`creating Workflow "${name}" in namespace "${client.namespace}"`);
      try {
        return { workflow: await client.create(WORKFLOWS, body), attached: false };
      } catch (error) {
        if (!(error instanceof KubeApiError) || error.status !== 409) {
          throw error;
        }
        const found = await client.get(WORKFLOWS, name);
        if (found.metadata?.labels?.[LABEL_HASH] === create.hash) {
          create.progress(
            `Workflow "${name}" already exists with the same content: attaching to it`
          );
          return { workflow: found, attached: true };
        }
        if (attempt >= 50) {
          throw error;
        }
      }
    }
  }

  /** The Workflow of one attempt: the compiled manifest with Chard's name, labels and volumes. */
  function workflowBody(
    options: Submit.IOptions,
    create: ICreate,
    name: string,
    attempt: number
  ): IKubeObject {
    const snaps = new Map(
      options.workspace.map((w, i) => [
        w.pvc,
        {
          snapshot: snapshotName(name, i),
          size: create.claims[i]?.size ?? null,
          storageClass: create.claims[i]?.storageClass ?? null,
          accessModes: create.claims[i]?.accessModes ?? []
        }
      ])
    );
    const manifest = options.compile(
      planWithWorkspace(options.plan, options.workspace, create.mode, snaps)
    );
    // The name is ours and the namespace the client's.
    const meta: IObjectMeta = { ...manifest.metadata };
    delete meta.generateName;
    delete meta.namespace;
    return {
      ...manifest,
      metadata: {
        ...meta,
        name,
        labels: {
          ...meta.labels,
          [LABEL_MANAGED]: 'chard',
          [LABEL_HASH]: create.hash,
          [LABEL_ATTEMPT]: String(attempt),
          [LABEL_NOTEBOOK]: dnsLabel(create.notebookId, 63, 'notebook')
        },
        annotations: {
          ...meta.annotations,
          [ANNOTATION_PIPELINE]: options.plan.pipeline.name
        }
      },
      spec: {
        ...(isRecord(manifest.spec) ? manifest.spec : {}),
        ...(create.mode === 'snapshot' ? { suspend: true } : {})
      }
    };
  }

  /** Snapshot the workspace (owned by the Workflow), then start the suspended Workflow. */
  export async function snapshotThenStart(
    options: Submit.IOptions,
    workflow: IKubeObject,
    claims: readonly IClaimInfo[],
    hash: string,
    progress: (message: string) => void
  ): Promise<IKubeObject> {
    const { client } = options;
    const name = workflow.metadata?.name ?? '';
    try {
      await snapshotWorkspace(client, options.workspace, [...claims], {
        className: options.snapshotClass,
        timeoutMs: options.snapshotTimeoutMs ?? 600000,
        pollMs: options.snapshotPollMs,
        owner: { name, uid: workflow.metadata?.uid ?? '' },
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
    return resumeUnlessCancelled(client, name, progress);
  }
}
