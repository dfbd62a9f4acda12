/**
 * The TensorBoard endpoints, an adapter over the TensorBoard service: `GET /tensorboard/runs`
 * (a notebook's runs and their log directories, for the picker), `POST /tensorboard/open`,
 * `POST /tensorboard/close`, and `GET /tensorboard/target` (asked by the server extension's
 * forwarder on every request to a local TensorBoard: the port only the backend knows). Here the
 * requests are checked, paths are kept inside the Jupyter root (and answered relative to it),
 * and the service's errors become answers with their codes.
 */
import * as path from 'node:path';
import {
  isTensorBoardCloseRequest,
  isTensorBoardOpenRequest,
  TENSORBOARD_PREFIX
} from '../../core/tensorboard.js';
import type {
  ITensorBoardOpenRequest,
  ITensorBoardRunsResponse,
  ITensorBoardSession,
  ITensorBoardTarget
} from '../../core/tensorboard.js';
import { ClusterTensorBoardError } from '../tensorboard/cluster.js';
import { TensorBoardError } from '../tensorboard/local.js';
import { logDirName } from '../tensorboard/logdirs.js';
import type { ILogDir } from '../tensorboard/logdirs.js';
import { TensorBoardRequestError } from '../tensorboard/service.js';
import type { TensorBoardService } from '../tensorboard/service.js';
import { resolveInsideRoot } from './paths.js';
import { HttpError } from './router.js';
import type { IRoute } from './router.js';

export interface ITensorBoardRoutesOptions {
  /** The Jupyter server's root directory: paths are relative to it and stay inside. */
  rootDir: string;
  service: TensorBoardService;
}

export function tensorBoardRoutes(options: ITensorBoardRoutesOptions): IRoute[] {
  const { service } = options;
  return [
    {
      method: 'GET',
      path: '/tensorboard/runs',
      handle: async ({ query }) => {
        const notebook = query.get('notebook');
        if (!notebook) {
          throw new HttpError(400, 'bad-request', 'give the notebook: ?notebook=<path>');
        }
        const file = await resolveInsideRoot(options.rootDir, notebook);
        return { body: { runs: await service.runs(file) } satisfies ITensorBoardRunsResponse };
      }
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
        await Private.translate(() =>
          service.close(body.id, body.target === 'cluster' ? 'cluster' : 'local')
        );
        return { body: { closed: body.id } };
      }
    },
    {
      method: 'GET',
      path: '/tensorboard/target',
      handle: ({ query }) => {
        const port = service.target(query.get('id') ?? '');
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
    // The notebook matters only for the runs it names (a cluster claim named outright needs none).
    const byRun = (body.runs?.length ?? 0) > 0 && !(body.target === 'cluster' && body.claim);
    const notebook =
      byRun && body.notebook ? await resolveInsideRoot(options.rootDir, body.notebook) : undefined;
    if (body.target === 'cluster') {
      const run = body.runs?.[0];
      const board = await translate(() =>
        options.service.openOnCluster({
          notebook,
          run,
          ...(body.claim ? { claim: body.claim } : {}),
          ...(body.path !== undefined ? { path: body.path } : {})
        })
      );
      return {
        id: board.name,
        target: 'cluster',
        url: board.url,
        logdirs: [{ name: run ?? body.claim ?? board.name, path: board.logspath }],
        started: true
      };
    }
    const logdirs = await givenLogDirs(options.rootDir, body);
    const board = await translate(() =>
      options.service.openLocal({ notebook, runs: body.runs ?? [], logdirs })
    );
    const root = path.resolve(options.rootDir);
    return {
      id: board.id,
      target: 'local',
      url: `${TENSORBOARD_PREFIX.slice(1)}/${board.id}/`,
      logdirs: board.logdirs.map(d => ({ name: d.name, path: path.relative(root, d.path) || '.' })),
      started: board.started
    };
  }

  /** The folders the user named, inside the Jupyter root. */
  async function givenLogDirs(rootDir: string, body: ITensorBoardOpenRequest): Promise<ILogDir[]> {
    const dirs: ILogDir[] = [];
    for (const given of body.logdirs ?? []) {
      const real = await resolveInsideRoot(rootDir, given.path);
      if (real.includes(',')) {
        throw new HttpError(
          400,
          'bad-request',
          `${given.path}: TensorBoard cannot read a path with a comma`
        );
      }
      dirs.push({ name: logDirName(given.name || path.basename(real)), path: real });
    }
    return dirs;
  }

  /** The service's, TensorBoard's and the cluster's failures as HTTP errors with their codes. */
  export async function translate<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof HttpError) {
        throw error;
      }
      if (error instanceof TensorBoardRequestError) {
        const [status, code] = REQUEST_ERRORS[error.code];
        throw new HttpError(status, code, error.message);
      }
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
      throw new HttpError(
        502,
        'tensorboard-failed',
        error instanceof Error ? error.message : String(error)
      );
    }
  }

  const REQUEST_ERRORS: Record<
    TensorBoardRequestError['code'],
    [number, 'bad-request' | 'conflict' | 'no-such-run' | 'no-logs' | 'logs-unreachable']
  > = {
    invalid: [400, 'bad-request'],
    'no-cluster': [409, 'conflict'],
    'no-such-run': [404, 'no-such-run'],
    'no-logs': [404, 'no-logs'],
    'logs-unreachable': [404, 'logs-unreachable']
  };
}
