/**
 * The endpoints of Chard's HTTP API, one row each: health and analyze here, the run service's
 * (compile, runs, events, logs, cancel, resume, outputs) in runs.ts.
 */
import { readFile } from 'node:fs/promises';
import { isAnalyzeRequest } from '../../core/httpapi.js';
import type { IAnalyzeResponse, IHealthResponse } from '../../core/httpapi.js';
import type { ICellAnalysisService } from '../../core/analyze.js';
import { analyzeNotebookWith } from '../../core/analyze.js';
import { NotebookError, parseNotebook } from '../../core/notebook.js';
import { resolveInsideRoot } from './paths.js';
import type { IRequestCounters } from './server.js';
import { HttpError } from './router.js';
import { runRoutes } from './runs.js';
import type { RunService } from '../service/service.js';
import type { IRoute } from './router.js';

export interface IRoutesOptions {
  /** The Jupyter server's root directory: notebook paths are relative to it and stay inside. */
  rootDir: string;
  /** Chard's version, reported by `health`. */
  version: string;
  /** Analyses cells (a worker-thread pool in the backend). */
  analysis: ICellAnalysisService;
  /** When the process started (ms since the epoch). */
  startedAt: number;
  /** The server's request counter (shared with createApiServer). */
  counters: IRequestCounters;
  /** The run service (without it, only health and analyze are served). */
  service?: RunService;
}

export function apiRoutes(options: IRoutesOptions): IRoute[] {
  return [
    {
      method: 'GET',
      path: '/health',
      handle: () => ({
        body: {
          state: 'ready',
          version: options.version,
          pid: process.pid,
          uptimeSeconds: Math.round((Date.now() - options.startedAt) / 100) / 10,
          requests: options.counters.requests
        } satisfies IHealthResponse
      })
    },
    {
      method: 'POST',
      path: '/analyze',
      handle: async ({ body }) => ({ body: await analyze(options, body) })
    },
    ...(options.service ? runRoutes({ rootDir: options.rootDir, service: options.service }) : [])
  ];
}

async function analyze(options: IRoutesOptions, body: unknown): Promise<IAnalyzeResponse> {
  if (!isAnalyzeRequest(body)) {
    throw new HttpError(400, 'bad-request', 'expected a JSON body {"path": "<notebook path>"}');
  }
  const file = await resolveInsideRoot(options.rootDir, body.path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new HttpError(
      code === 'EISDIR' ? 400 : 403,
      code === 'EISDIR' ? 'bad-request' : 'forbidden',
      `${body.path}: cannot read the notebook (${code === 'EISDIR' ? 'is a directory' : String(code)})`
    );
  }
  try {
    const nb = parseNotebook(text, body.path);
    return await analyzeNotebookWith(options.analysis, nb, { fileName: body.path });
  } catch (error) {
    if (error instanceof NotebookError) {
      throw new HttpError(422, 'invalid-notebook', error.message);
    }
    throw error;
  }
}
