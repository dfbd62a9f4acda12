/**
 * The TensorBoard service: the one place that opens TensorBoard on runs, on this machine or on
 * the run's cluster, lists a notebook's runs with their log directories, and closes what it
 * opened. The HTTP API (http/tensorboard.ts) is an adapter over it: it checks requests, keeps
 * paths inside the Jupyter root and turns the errors below into answers. It takes paths that are
 * already absolute and checked; cluster access comes from the composition root (main.ts).
 */
import * as path from 'node:path';
import { isRecord } from '../../core/notebook.js';
import type { IRunRecord } from '../../core/runs.js';
import type { ITensorBoardRunChoice } from '../../core/tensorboard.js';
import { chardDirFor, isRunId, listRunsIn, readRunRecord, runPaths } from '../common/records.js';
import type { IKubeClient, IKubeObject } from '../kube/client.js';
import { WORKFLOWS } from '../kube/client.js';
import { ClusterConfigError } from '../kube/config.js';
import { readNotebookPod } from '../kube/workspace.js';
import type { ClusterTensorBoards, IClusterTensorBoard } from './cluster.js';
import { pvcLogsPath } from './cluster.js';
import type { ILocalTensorBoards, ITensorBoardHandle } from './local.js';
import { copyEventFiles, findLogDirs, holdsEventFiles, runLogDirs } from './logdirs.js';
import type { ILogDir } from './logdirs.js';

/**
 * Why a request cannot be served, in terms of the request (the TensorBoard processes and the
 * cluster have their own errors: TensorBoardError, ClusterTensorBoardError).
 * - `invalid`: the request itself is wrong (a run id that is none, runs without their notebook);
 * - `no-cluster`: the request is for a cluster and none is configured or its access cannot be
 *   loaded (no kubeconfig, an unknown context);
 * - `no-such-run`: a run without a record;
 * - `no-logs`: no event files, or no volume to read them from;
 * - `logs-unreachable`: a cluster run's logs are on a volume this server does not mount.
 */
export type TensorBoardRequestErrorCode =
  'invalid' | 'no-cluster' | 'no-such-run' | 'no-logs' | 'logs-unreachable';

export class TensorBoardRequestError extends Error {
  constructor(
    readonly code: TensorBoardRequestErrorCode,
    message: string
  ) {
    super(message);
    this.name = 'TensorBoardRequestError';
  }
}

/** The cluster half: its client, its Tensorboard resources, and this server's own pod. */
export interface ITensorBoardCluster {
  boards: ClusterTensorBoards;
  client: IKubeClient;
  /** This Jupyter server's pod when it runs in the cluster (HOSTNAME): its volumes may hold a
   * cluster run's logs. */
  podName?: string | null;
}

export namespace TensorBoardService {
  export interface IOptions {
    /** The Jupyter root: messages name folders relative to it. */
    rootDir: string;
    local: ILocalTensorBoards;
    /** The cluster half, created on first use (loading cluster access may fail). */
    cluster?: () => Promise<ITensorBoardCluster>;
  }

  /** Open TensorBoard on this machine: on named folders, on runs of a notebook, or both. */
  export interface ILocalRequest {
    /** The notebook (absolute) whose runs are given. */
    notebook?: string;
    runs?: readonly string[];
    /** Folders given by the user (absolute, checked by the caller). */
    logdirs?: readonly ILogDir[];
  }

  /** Open TensorBoard on the cluster: on a run's volume, or on a claim the user names. */
  export interface IClusterRequest {
    notebook?: string;
    run?: string;
    claim?: string;
    /** The folder on the volume (relative to its root). */
    path?: string;
  }
}

/** Event files this much older than a cluster run's start are still taken as its own (clocks
 * of the cluster's nodes and of this machine differ). */
const CLOCK_SLACK_MS = 2 * 60 * 1000;

export class TensorBoardService {
  constructor(private readonly _options: TensorBoardService.IOptions) {}

  /** A notebook's runs, newest first, each with the folders of event files in its workspace. */
  async runs(notebook: string): Promise<ITensorBoardRunChoice[]> {
    const entries = await listRunsIn(chardDirFor(notebook));
    const result: ITensorBoardRunChoice[] = [];
    for (const entry of entries.reverse()) {
      result.push({
        id: entry.record.id,
        status: entry.record.status,
        createdAt: entry.record.createdAt,
        backend: entry.record.backend,
        logdirs: await findLogDirs(runPaths(entry.dir).workspace)
      });
    }
    return result;
  }

  /**
   * A TensorBoard on this machine (started, or shared with a panel already on the same
   * folders). A cluster run's event files are first brought into its run folder (see
   * `_fetchClusterLogs`).
   */
  async openLocal(request: TensorBoardService.ILocalRequest): Promise<ITensorBoardHandle> {
    const dirs = [...(request.logdirs ?? [])];
    if (request.runs && request.runs.length > 0) {
      const runs = this._runPlaces(request.notebook, request.runs);
      for (const run of runs) {
        await this._fetchClusterLogs(run);
      }
      dirs.push(...(await runLogDirs(runs)));
    }
    // TensorBoard's --logdir_spec separates folders with commas.
    const logdirs = dirs.filter(d => !d.path.includes(','));
    if (logdirs.length === 0) {
      throw new TensorBoardRequestError(
        'no-logs',
        'no TensorBoard event files (events.out.tfevents.*) in these runs: the steps write them ' +
          'with torch.utils.tensorboard, tensorboardX or tf.summary, to logs/, runs/ or tensorboard/'
      );
    }
    return this._options.local.open(logdirs);
  }

  /** A Kubeflow Tensorboard on a run's volume (or a named claim), once it serves. */
  async openOnCluster(request: TensorBoardService.IClusterRequest): Promise<IClusterTensorBoard> {
    const cluster = await this._cluster();
    let claim = request.claim;
    if (!claim) {
      if (!request.run) {
        throw new TensorBoardRequestError(
          'invalid',
          'give the run (or the volume claim) to open on the cluster'
        );
      }
      const [run] = this._runPlaces(request.notebook, [request.run]);
      let record: IRunRecord;
      try {
        record = await readRunRecord(run.dir);
      } catch {
        throw new TensorBoardRequestError('no-such-run', `no run record in ${run.dir}`);
      }
      claim = await this._claimOfRun(cluster.client, record);
    }
    let logspath: string;
    try {
      logspath = pvcLogsPath(claim, request.path ?? '');
    } catch (error) {
      // The user's path (or a claim name from the request): nothing the cluster said.
      throw new TensorBoardRequestError(
        'invalid',
        error instanceof Error ? error.message : String(error)
      );
    }
    return cluster.boards.open(logspath, request.run);
  }

  /** A panel closed: a local TensorBoard loses a reference; a cluster one is deleted. */
  async close(id: string, target: 'local' | 'cluster'): Promise<void> {
    if (target === 'cluster') {
      await (await this._cluster()).boards.close(id);
    } else {
      await this._options.local.release(id);
    }
  }

  /** The port of a local TensorBoard (null when it no longer runs). */
  target(id: string): number | null {
    return this._options.local.target(id);
  }

  private async _cluster(): Promise<ITensorBoardCluster> {
    if (!this._options.cluster) {
      throw new TensorBoardRequestError(
        'no-cluster',
        'no cluster is configured for this Jupyter server'
      );
    }
    try {
      return await this._options.cluster();
    } catch (error) {
      // No kubeconfig, no service account, an unknown context: the request cannot be served
      // here, which is not a failure of the cluster.
      if (error instanceof ClusterConfigError) {
        throw new TensorBoardRequestError('no-cluster', error.message);
      }
      throw error;
    }
  }

  /** The runs of a request: each one's folder, its workspace, and its notebook's folder. */
  private _runPlaces(notebook: string | undefined, runs: readonly string[]): Private.IRunPlace[] {
    if (!notebook) {
      throw new TensorBoardRequestError(
        'invalid',
        'runs are given with their notebook ("notebook": "<path>")'
      );
    }
    const chardDir = chardDirFor(notebook);
    return runs.map(id => {
      if (!isRunId(id)) {
        throw new TensorBoardRequestError('invalid', `not a run id: ${JSON.stringify(id)}`);
      }
      const dir = path.join(chardDir, 'runs', id);
      return {
        name: id,
        workspace: runPaths(dir).workspace,
        dir,
        notebookDir: path.dirname(notebook)
      };
    });
  }

  /**
   * A cluster run's event files, copied into its run folder on this machine (its `workspace/`)
   * from the run's volume when this Jupyter server mounts that volume too (a run on the
   * notebook's own volume, without a snapshot): only the files written while the run ran, from
   * the notebook's folder, where the steps worked; again on every open, so the curves of a run
   * still going grow (files already copied are skipped). Nothing for a local run. When the
   * volume is not mounted here (or the cluster cannot be asked), event files already in the
   * run's folder (copied by hand) are used, and without any, a clear error says where they are.
   */
  private async _fetchClusterLogs(run: Private.IRunPlace): Promise<void> {
    let record;
    try {
      record = await readRunRecord(run.dir);
    } catch {
      return; // no record: the "no event files" answer says enough
    }
    if (!record.cluster?.workflow || !this._options.cluster) {
      return;
    }
    try {
      const cluster = await this._cluster();
      const claim = await this._claimOfRun(cluster.client, record);
      const pod = cluster.podName ? await readNotebookPod(cluster.client, cluster.podName) : null;
      const mount = pod?.volumes.find(
        v => v.pvc === claim && Private.isInside(run.notebookDir, path.resolve(v.mountPath))
      );
      if (!mount) {
        throw new TensorBoardRequestError(
          'logs-unreachable',
          `run ${record.id} wrote its logs to the volume claim "${claim}", which this Jupyter ` +
            `server does not mount, so TensorBoard on this machine cannot read them. Copy the ` +
            `run's event files (its logs/, runs/ or tensorboard/ folders) into ` +
            `${path.relative(this._options.rootDir, run.workspace)}/ (for example with kubectl cp ` +
            `from a pod that mounts "${claim}"), then open TensorBoard again.`
        );
      }
      const since = Date.parse(record.startedAt ?? record.createdAt) - CLOCK_SLACK_MS;
      const until = record.finishedAt ? Date.parse(record.finishedAt) + CLOCK_SLACK_MS : Infinity;
      await copyEventFiles(run.notebookDir, run.workspace, since, until);
    } catch (error) {
      if (!(await holdsEventFiles(run.workspace))) {
        throw error;
      }
    }
  }

  /** The volume a cluster run's steps wrote to: its Workflow's first writable claim. */
  private async _claimOfRun(client: IKubeClient, record: IRunRecord): Promise<string> {
    const workflow = record.cluster?.workflow;
    if (!workflow) {
      throw new TensorBoardRequestError('invalid', `run ${record.id} did not run on a cluster`);
    }
    const claim = Private.workflowClaim(await client.get(WORKFLOWS, workflow));
    if (!claim) {
      throw new TensorBoardRequestError(
        'no-logs',
        `workflow ${workflow} mounts no volume to read logs from`
      );
    }
    return claim;
  }
}

namespace Private {
  /** A run of a request: its folder, its workspace, and the folder of its notebook. */
  export interface IRunPlace {
    name: string;
    workspace: string;
    dir: string;
    notebookDir: string;
  }

  export function isInside(child: string, parent: string): boolean {
    const rel = path.relative(parent, child);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  }

  /** The first writable claim of a Workflow (`spec.volumes`, then the claims Argo created). */
  export function workflowClaim(object: IKubeObject): string | null {
    const spec = isRecord(object.spec) ? object.spec : {};
    for (const volume of Array.isArray(spec.volumes) ? spec.volumes : []) {
      const pvc = claimOf(volume);
      if (pvc && pvc.readOnly !== true) {
        return pvc.claimName;
      }
    }
    const status = isRecord(object.status) ? object.status : {};
    const created = Array.isArray(status.persistentVolumeClaims)
      ? status.persistentVolumeClaims
      : [];
    for (const volume of created) {
      const pvc = claimOf(volume);
      if (pvc) {
        return pvc.claimName;
      }
    }
    return null;
  }

  function claimOf(volume: unknown): { claimName: string; readOnly?: unknown } | null {
    const pvc =
      isRecord(volume) && isRecord(volume.persistentVolumeClaim)
        ? volume.persistentVolumeClaim
        : null;
    return pvc && typeof pvc.claimName === 'string'
      ? { claimName: pvc.claimName, readOnly: pvc.readOnly }
      : null;
  }
}
