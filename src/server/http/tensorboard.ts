/**
 * The TensorBoard endpoints: `GET /tensorboard/runs` (a notebook's runs and their log
 * directories, for the picker), `POST /tensorboard/open`, `POST /tensorboard/close`, and
 * `GET /tensorboard/target` (asked by the server extension's forwarder on every request to a
 * local TensorBoard: the port only the backend knows).
 */
import * as path from 'node:path';
import { isRecord } from '../../core/notebook.js';
import {
  isTensorBoardCloseRequest,
  isTensorBoardOpenRequest,
  TENSORBOARD_PREFIX
} from '../../core/tensorboard.js';
import type {
  ITensorBoardOpenRequest,
  ITensorBoardRunChoice,
  ITensorBoardRunsResponse,
  ITensorBoardSession,
  ITensorBoardTarget
} from '../../core/tensorboard.js';
import type { IKubeClient, IKubeObject } from '../kube/client.js';
import { WORKFLOWS } from '../kube/client.js';
import { readNotebookPod } from '../kube/workspace.js';
import { chardDirFor, isRunId, listRunsIn, readRunRecord, runPaths } from '../common/records.js';
import type { ClusterTensorBoards } from '../tensorboard/cluster.js';
import { ClusterTensorBoardError, pvcLogsPath } from '../tensorboard/cluster.js';
import type { ILocalTensorBoards } from '../tensorboard/local.js';
import { TensorBoardError } from '../tensorboard/local.js';
import {
  copyEventFiles,
  findLogDirs,
  holdsEventFiles,
  logDirName,
  runLogDirs
} from '../tensorboard/logdirs.js';
import type { ILogDir } from '../tensorboard/logdirs.js';
import { resolveInsideRoot } from './paths.js';
import { HttpError } from './router.js';
import type { IRoute } from './router.js';

export interface ITensorBoardRoutesOptions {
  rootDir: string;
  local: ILocalTensorBoards;
  /**
   * The cluster half (created on first use: loading cluster access may fail). `podName`: this
   * Jupyter server's own pod when it runs in the cluster (HOSTNAME), whose volumes may hold a
   * cluster run's logs.
   */
  cluster?: () => Promise<{
    boards: ClusterTensorBoards;
    client: IKubeClient;
    podName?: string | null;
  }>;
}

/** Event files this much older than a cluster run's start are still taken as its own (clocks
 * of the cluster's nodes and of this machine differ). */
const CLOCK_SLACK_MS = 2 * 60 * 1000;

export function tensorBoardRoutes(options: ITensorBoardRoutesOptions): IRoute[] {
  return [
    {
      method: 'GET',
      path: '/tensorboard/runs',
      handle: async ({ query }) => ({ body: await Private.runs(options, query.get('notebook')) })
    },
    {
      method: 'POST',
      path: '/tensorboard/open',
      handle: async ({ body }) => ({ body: await Private.open(options, body) })
    },
    {
      method: 'POST',
      path: '/tensorboard/close',
      handle: async ({ body }) => {
        if (!isTensorBoardCloseRequest(body)) {
          throw new HttpError(
            400,
            'bad-request',
            'expected a JSON body {"id": "<tensorboard id>"}'
          );
        }
        if (body.target === 'cluster') {
          const cluster = await Private.cluster(options);
          await Private.translate(() => cluster.boards.close(body.id));
        } else {
          await options.local.release(body.id);
        }
        return { body: { closed: body.id } };
      }
    },
    {
      method: 'GET',
      path: '/tensorboard/target',
      handle: ({ query }) => {
        const port = options.local.target(query.get('id') ?? '');
        if (port === null) {
          throw new HttpError(
            404,
            'not-found',
            'this TensorBoard is no longer running (its panels closed, or it was idle): reopen it'
          );
        }
        return { body: { port } satisfies ITensorBoardTarget };
      }
    }
  ];
}

namespace Private {
  export async function runs(
    options: ITensorBoardRoutesOptions,
    notebook: string | null
  ): Promise<ITensorBoardRunsResponse> {
    if (!notebook) {
      throw new HttpError(400, 'bad-request', 'give the notebook: ?notebook=<path>');
    }
    const file = await resolveInsideRoot(options.rootDir, notebook);
    const entries = await listRunsIn(chardDirFor(file));
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
    return { runs: result };
  }

  export async function open(
    options: ITensorBoardRoutesOptions,
    body: unknown
  ): Promise<ITensorBoardSession> {
    if (!isTensorBoardOpenRequest(body)) {
      throw new HttpError(
        400,
        'bad-request',
        'expected a JSON body {"notebook": "<path>", "runs": ["<run id>", ...]} or {"logdirs": [...]}'
      );
    }
    if (body.target === 'cluster') {
      return openOnCluster(options, body);
    }
    const root = path.resolve(options.rootDir);
    const logdirs = await localLogDirs(options, body);
    if (logdirs.length === 0) {
      throw new HttpError(
        404,
        'no-logs',
        'no TensorBoard event files (events.out.tfevents.*) in these runs: the steps write them ' +
          'with torch.utils.tensorboard, tensorboardX or tf.summary, to logs/, runs/ or tensorboard/'
      );
    }
    const board = await translate(() => options.local.open(logdirs));
    return {
      id: board.id,
      target: 'local',
      url: `${TENSORBOARD_PREFIX.slice(1)}/${board.id}/`,
      logdirs: board.logdirs.map(d => ({ name: d.name, path: path.relative(root, d.path) || '.' })),
      started: board.started
    };
  }

  async function localLogDirs(
    options: ITensorBoardRoutesOptions,
    body: ITensorBoardOpenRequest
  ): Promise<ILogDir[]> {
    const dirs: ILogDir[] = [];
    for (const given of body.logdirs ?? []) {
      const real = await resolveInsideRoot(options.rootDir, given.path);
      if (real.includes(',')) {
        throw new HttpError(
          400,
          'bad-request',
          `${given.path}: TensorBoard cannot read a path with a comma`
        );
      }
      dirs.push({ name: logDirName(given.name || path.basename(real)), path: real });
    }
    if (body.runs && body.runs.length > 0) {
      const runs = await runWorkspaces(options, body);
      for (const run of runs) {
        await fetchClusterLogs(options, run);
      }
      dirs.push(...(await runLogDirs(runs)));
    }
    return dirs.filter(d => !d.path.includes(','));
  }

  /** A run of the request: its folder, its workspace, and the folder of its notebook. */
  interface IRunPlace {
    name: string;
    workspace: string;
    dir: string;
    notebookDir: string;
  }

  async function runWorkspaces(
    options: ITensorBoardRoutesOptions,
    body: ITensorBoardOpenRequest
  ): Promise<IRunPlace[]> {
    if (!body.notebook) {
      throw new HttpError(
        400,
        'bad-request',
        'runs are given with their notebook ("notebook": "<path>")'
      );
    }
    const file = await resolveInsideRoot(options.rootDir, body.notebook);
    const chardDir = chardDirFor(file);
    return (body.runs ?? []).map(id => {
      if (!isRunId(id)) {
        throw new HttpError(400, 'bad-request', `not a run id: ${JSON.stringify(id)}`);
      }
      const dir = path.join(chardDir, 'runs', id);
      return { name: id, workspace: runPaths(dir).workspace, dir, notebookDir: path.dirname(file) };
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
  async function fetchClusterLogs(
    options: ITensorBoardRoutesOptions,
    run: IRunPlace
  ): Promise<void> {
    let record;
    try {
      record = await readRunRecord(run.dir);
    } catch {
      return; // no record: the "no event files" answer says enough
    }
    if (!record.cluster?.workflow || !options.cluster) {
      return;
    }
    try {
      const cluster = await Private.cluster(options);
      const claim = await claimOfRun(cluster.client, run.dir);
      const notebookDir = run.notebookDir;
      const pod = cluster.podName
        ? await translate(() => readNotebookPod(cluster.client, cluster.podName as string))
        : null;
      const mount = pod?.volumes.find(
        v => v.pvc === claim && isInside(notebookDir, path.resolve(v.mountPath))
      );
      if (!mount) {
        throw new HttpError(
          404,
          'logs-unreachable',
          `run ${record.id} wrote its logs to the volume claim "${claim}", which this Jupyter ` +
            `server does not mount, so TensorBoard on this machine cannot read them. Copy the ` +
            `run's event files (its logs/, runs/ or tensorboard/ folders) into ` +
            `${path.relative(options.rootDir, run.workspace)}/ (for example with kubectl cp ` +
            `from a pod that mounts "${claim}"), then open TensorBoard again.`
        );
      }
      const since = Date.parse(record.startedAt ?? record.createdAt) - CLOCK_SLACK_MS;
      const until = record.finishedAt ? Date.parse(record.finishedAt) + CLOCK_SLACK_MS : Infinity;
      await copyEventFiles(notebookDir, run.workspace, since, until);
    } catch (error) {
      if (!(await holdsEventFiles(run.workspace))) {
        throw error;
      }
    }
  }

  function isInside(child: string, parent: string): boolean {
    const rel = path.relative(parent, child);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  }

  async function openOnCluster(
    options: ITensorBoardRoutesOptions,
    body: ITensorBoardOpenRequest
  ): Promise<ITensorBoardSession> {
    const cluster = await Private.cluster(options);
    let claim = body.claim;
    const run = body.runs?.[0];
    if (!claim) {
      if (!run) {
        throw new HttpError(
          400,
          'bad-request',
          'give the run (or the volume claim) to open on the cluster'
        );
      }
      const [workspace] = await runWorkspaces(options, { ...body, runs: [run] });
      claim = await claimOfRun(cluster.client, workspace.dir);
    }
    let logspath: string;
    try {
      logspath = pvcLogsPath(claim, body.path ?? '');
    } catch (error) {
      // The user's path (or a claim name from the request): nothing the cluster said.
      throw new HttpError(
        400,
        'bad-request',
        error instanceof Error ? error.message : String(error)
      );
    }
    const board = await translate(() => cluster.boards.open(logspath, run));
    return {
      id: board.name,
      target: 'cluster',
      url: board.url,
      logdirs: [{ name: run ?? claim, path: board.logspath }],
      started: true
    };
  }

  /** The volume a cluster run's steps wrote to: its Workflow's first writable claim. */
  async function claimOfRun(client: IKubeClient, runDir: string): Promise<string> {
    let record;
    try {
      record = await readRunRecord(runDir);
    } catch {
      throw new HttpError(404, 'no-such-run', `no run record in ${runDir}`);
    }
    const workflow = record.cluster?.workflow;
    if (!workflow) {
      throw new HttpError(400, 'bad-request', `run ${record.id} did not run on a cluster`);
    }
    const object = await translate(() => client.get(WORKFLOWS, workflow));
    const claim = workflowClaim(object);
    if (!claim) {
      throw new HttpError(
        404,
        'no-logs',
        `workflow ${workflow} mounts no volume to read logs from`
      );
    }
    return claim;
  }

  /** The first writable claim of a Workflow (`spec.volumes`, then the claims Argo created). */
  export function workflowClaim(object: IKubeObject): string | null {
    const spec = isRecord(object.spec) ? object.spec : {};
    for (const volume of Array.isArray(spec.volumes) ? spec.volumes : []) {
      const pvc =
        isRecord(volume) && isRecord(volume.persistentVolumeClaim)
          ? volume.persistentVolumeClaim
          : null;
      if (pvc && typeof pvc.claimName === 'string' && pvc.readOnly !== true) {
        return pvc.claimName;
      }
    }
    const status = isRecord(object.status) ? object.status : {};
    for (const volume of Array.isArray(status.persistentVolumeClaims)
      ? status.persistentVolumeClaims
      : []) {
      const pvc =
        isRecord(volume) && isRecord(volume.persistentVolumeClaim)
          ? volume.persistentVolumeClaim
          : null;
      if (pvc && typeof pvc.claimName === 'string') {
        return pvc.claimName;
      }
    }
    return null;
  }

  export async function cluster(
    options: ITensorBoardRoutesOptions
  ): Promise<{ boards: ClusterTensorBoards; client: IKubeClient; podName?: string | null }> {
    if (!options.cluster) {
      throw new HttpError(400, 'bad-request', 'no cluster is configured for this Jupyter server');
    }
    return translate(options.cluster);
  }

  /** TensorBoard and cluster failures as HTTP errors with their codes. */
  export async function translate<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof TensorBoardError) {
        throw new HttpError(
          error.code === 'tensorboard-not-installed' ? 424 : 502,
          error.code,
          error.message
        );
      }
      if (error instanceof ClusterTensorBoardError) {
        const status =
          error.code === 'tensorboard-not-in-cluster'
            ? 424
            : error.code === 'tensorboard-timeout'
              ? 504
              : 502;
        throw new HttpError(status, error.code, error.message);
      }
      if (error instanceof HttpError) {
        throw error;
      }
      throw new HttpError(
        502,
        'tensorboard-failed',
        error instanceof Error ? error.message : String(error)
      );
    }
  }
}
