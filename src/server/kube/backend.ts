/**
 * The Argo Workflows backend of the run service: submits a notebook's plan as a Workflow with
 * its workspace volumes snapshotted (submit.ts), follows it (monitor.ts), reads its logs (kept
 * next to the notebook, else from the pods) and cancels it.
 */
import type { IArgoRunOptions } from '../../core/api.js';
import { compileArgo } from '../../core/compile/argo.js';
import type { ICompileOptions } from '../../core/compile/options.js';
import type { IPlan } from '../../core/plan.js';
import { planWithParameterValues } from '../../core/plan.js';
import type { IRunRecord, RunEvent, RunStatus } from '../../core/runs.js';
import { runStartedEvent } from '../../core/runs.js';
import { splitOutputsLine } from '../common/richoutputs.js';
import { RunRecordStore } from '../common/store.js';
import { ServiceError } from '../service/errors.js';
import type {
  IClusterAccess,
  ILogChunk,
  IRunBackend,
  IRunHooks,
  IRunLocation,
  IStartedRun,
  IStartInput,
  RunBackendApi
} from '../service/types.js';
import type { IKubeClient, IKubeObject } from './client.js';
import { createKubeClient, WORKFLOWS } from './client.js';
import type { IClusterConfig } from './config.js';
import { loadClusterConfig } from './config.js';
import {
  cancelWorkflow,
  fetchNodeLog,
  followWorkflow,
  workflowNodes,
  workflowPods,
  workflowStatus
} from './monitor.js';
import type { WorkspaceMode } from '../../core/api.js';
import { ANNOTATION_PIPELINE, LABEL_MANAGED, submitWorkflow } from './submit.js';
import type { IWorkspaceVolume } from './workspace.js';
import { parseSnapshotPvc, planWorkspace, readNotebookPod } from './workspace.js';

/** A Workflow Chard created, as `chard runs --cluster` lists it. */
export interface IClusterRun {
  run: string;
  status: RunStatus;
  pipeline: string;
  createdAt: string | null;
  finishedAt: string | null;
  namespace: string;
  message: string | null;
}

export class ArgoBackend implements IRunBackend {
  readonly name = 'argo' as const;

  constructor(private readonly _onRetry: (message: string) => void = () => undefined) {}

  async start(
    input: IStartInput,
    hooks: IRunHooks,
    options: RunBackendApi.IStartOptions
  ): Promise<IStartedRun> {
    const { request } = input;
    const argo = request.argo ?? {};
    const plan = planWithParameterValues(input.plan, request.parameters ?? {});
    const { config, client } = this.connect(argo);
    hooks.progress(
      `cluster ${config.inCluster ? '(in-cluster)' : `context "${config.context}"`}, ` +
        `namespace "${config.namespace}" (${config.namespaceSource})`
    );
    const mode: WorkspaceMode = argo.workspace ?? 'snapshot';
    const { workspace, notebookImage } = await Private.workspaceOf(
      client,
      config,
      plan,
      argo,
      mode,
      hooks
    );
    const compileOptions: ICompileOptions = {};
    if (argo.image) {
      compileOptions.image = argo.image;
    }
    if (argo.valueDigest !== undefined) {
      compileOptions.valueDigest = argo.valueDigest;
    }
    if (notebookImage) {
      compileOptions.notebookImage = notebookImage;
    }
    const result = await submitWorkflow({
      client,
      plan,
      notebook: request.notebook,
      compile: (p: IPlan): IKubeObject =>
        compileArgo(p, compileOptions).documents[0] as IKubeObject,
      workspace,
      mode,
      snapshotClass: argo.snapshotClass ?? plan.pipeline.chard.snapshotClass,
      snapshotTimeoutMs: (argo.snapshotTimeoutSeconds ?? 600) * 1000,
      context: config.context,
      onProgress: message => hooks.progress(message)
    });
    const store = RunRecordStore.forNotebook(request.notebook);
    const existing = result.attached ? store.readRecord(result.record.id) : null;
    const record = existing ?? result.record;
    await store.writeRecord(record);
    hooks.created(store.runDir(record.id), record);
    if (!existing) {
      hooks.event(runStartedEvent(record));
    }
    const done =
      options.follow === false
        ? Promise.resolve(record)
        : Private.follow(client, record, store, hooks);
    return { dir: store.runDir(record.id), record, done };
  }

  async follow(run: IRunLocation, hooks: IRunHooks): Promise<IRunRecord> {
    const { client } = this.connect({
      context: run.record.cluster?.context,
      namespace: run.record.cluster?.namespace
    });
    return Private.follow(client, run.record, Private.storeOf(run), hooks);
  }

  async cancel(
    run: IRunLocation,
    options: RunBackendApi.ICancelOptions
  ): Promise<RunBackendApi.ICancelResult> {
    await this.cancelByName(run.record.cluster?.workflow ?? run.record.id, {
      context: options.cluster?.context ?? run.record.cluster?.context,
      namespace: options.cluster?.namespace ?? run.record.cluster?.namespace,
      kubeconfig: options.cluster?.kubeconfig
    });
    return { record: run.record, how: 'requested' };
  }

  /** Cancel a Workflow known only by name (no record of it here). */
  async cancelByName(name: string, access: IClusterAccess): Promise<void> {
    const { client } = this.connect(access);
    await cancelWorkflow(client, name);
  }

  async *logs(run: IRunLocation, options: RunBackendApi.ILogOptions): AsyncGenerator<ILogChunk> {
    const store = Private.storeOf(run);
    const record = run.record;
    const wanted = (name: string, id: string): boolean =>
      !options.step || options.step === name || options.step === id;
    const steps = record.steps.filter(st => wanted(st.name, st.id));
    if (steps.length === 0) {
      throw new ServiceError(
        `run ${record.id} has no step "${options.step}" (steps: ${record.steps.map(st => st.name).join(', ')})`
      );
    }
    const missing: { name: string; id: string }[] = [];
    for (const st of steps) {
      const text = store.readLog(record.id, st.id);
      if (text === null) {
        missing.push(st);
      } else {
        yield { step: st.name, text, final: true };
      }
    }
    if (missing.length > 0) {
      yield* this.podLogs(record.cluster?.workflow ?? record.id, {
        ...options.cluster,
        context: options.cluster?.context ?? record.cluster?.context,
        namespace: options.cluster?.namespace ?? record.cluster?.namespace,
        only: missing.map(m => m.id)
      });
    }
  }

  /** Step logs from a Workflow's pods (a run with no record here, or logs not kept yet). */
  async *podLogs(
    workflow: string,
    options: IClusterAccess & { step?: string; only?: string[] }
  ): AsyncGenerator<ILogChunk> {
    const { client } = this.connect(options);
    const wf = await client.get(WORKFLOWS, workflow);
    const pods = await workflowPods(client, workflow);
    const key = (n: { displayName: string }): string => n.displayName.replace(/\(\d+\)$/, '');
    const chosen = workflowNodes(wf)
      .filter(n => n.type === 'Pod')
      .filter(n =>
        options.only ? options.only.includes(key(n)) : !options.step || options.step === key(n)
      );
    if (chosen.length === 0 && options.step) {
      throw new ServiceError(`run ${workflow} has no step "${options.step}" with a pod`);
    }
    for (const node of chosen) {
      const text = await fetchNodeLog(client, workflow, node, pods ?? undefined);
      if (text === null) {
        throw new ServiceError(
          `no log for step ${key(node)}: its pod is gone and no copy was kept`
        );
      }
      // The line carrying what the step showed is not part of its log.
      yield { step: key(node), text: splitOutputsLine(text).log, final: true };
    }
  }

  /** The Workflows Chard created in the namespace, newest first. */
  async listCluster(access: IClusterAccess): Promise<{ namespace: string; runs: IClusterRun[] }> {
    const { client } = this.connect(access);
    const listed = await client.list(WORKFLOWS, { labelSelector: `${LABEL_MANAGED}=chard` });
    const runs = listed.items
      .map(wf => {
        const st = workflowStatus(wf);
        const status = (wf.status ?? {}) as Record<string, unknown>;
        return {
          run: wf.metadata?.name ?? '',
          status: st.status,
          pipeline: wf.metadata?.annotations?.[ANNOTATION_PIPELINE] ?? '',
          createdAt: wf.metadata?.creationTimestamp ?? null,
          finishedAt: typeof status.finishedAt === 'string' ? status.finishedAt : null,
          namespace: client.namespace,
          message: st.message
        };
      })
      .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
    return { namespace: client.namespace, runs };
  }

  /** Cluster access and a client whose retries are reported. */
  connect(access: IClusterAccess & Pick<IArgoRunOptions, 'context' | 'namespace'>): {
    config: IClusterConfig;
    client: IKubeClient;
  } {
    const config = loadClusterConfig({
      namespace: access.namespace,
      context: access.context,
      kubeconfig: access.kubeconfig
    });
    const onRetry = this._onRetry;
    const client = createKubeClient(config.kubeConfig, config.namespace, {
      onRetry,
      onWarning: message => onRetry(`warning from the API server: ${message}`)
    });
    return { config, client };
  }
}

namespace Private {
  export function storeOf(run: IRunLocation): RunRecordStore {
    // `.chard/runs/RUN` -> `.chard`
    return new RunRecordStore(run.dir.replace(/[/\\]runs[/\\][^/\\]+[/\\]?$/, ''));
  }

  /** Where the workspace volumes come from: --snapshot-pvc, the notebook pod, or the plan. */
  export async function workspaceOf(
    client: IKubeClient,
    config: IClusterConfig,
    plan: IPlan,
    argo: IArgoRunOptions,
    mode: WorkspaceMode,
    hooks: IRunHooks
  ): Promise<{ workspace: IWorkspaceVolume[]; notebookImage?: string }> {
    if (mode === 'none') {
      return { workspace: [] };
    }
    if (argo.snapshotPvc && argo.snapshotPvc.length > 0) {
      return { workspace: parseSnapshotPvc(argo.snapshotPvc, plan) };
    }
    if (config.inCluster && config.podName) {
      const pod = await readNotebookPod(client, config.podName);
      hooks.progress(
        `notebook pod "${pod.name}": image ${pod.image ?? 'unknown'}, ` +
          `volumes ${pod.volumes.map(w => `${w.pvc}:${w.mountPath}`).join(', ') || 'none'}`
      );
      return { workspace: pod.volumes, notebookImage: pod.image ?? undefined };
    }
    return { workspace: planWorkspace(plan) };
  }

  export function follow(
    client: IKubeClient,
    record: IRunRecord,
    store: RunRecordStore,
    hooks: IRunHooks
  ): Promise<IRunRecord> {
    return followWorkflow(client, record, {
      store,
      // run-started was reported when the Workflow was created
      onEvent: (event: RunEvent) => {
        if (event.event !== 'run-started') {
          hooks.event(event);
        }
      }
    });
  }
}
