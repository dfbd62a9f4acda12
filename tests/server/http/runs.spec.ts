/**
 * The run endpoints of the HTTP API on a real backend server (the run service with the local
 * runner): every answer is checked against schema/openapi.yaml; the events a client receives
 * as server-sent events are the service's; paths are relative to the Jupyter root.
 */
import * as fs from 'node:fs';
import http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IRunDetails, IRunEventEnvelope } from '../../../src/core/api.js';
import type {
  IApiError,
  ICompileResponse,
  ILogsResponse,
  IRunListResponse,
  IRunOutputsResponse,
  IStepOutputsResponse
} from '../../../src/core/httpapi.js';
import { CellAnalysisPool } from '../../../src/server/analysis/pool.js';
import { apiRoutes, createApiServer } from '../../../src/server/http/index.js';
import { createRunService } from '../../../src/server/index.js';
import { notebookJson, PYTHON, writeNotebook } from '../local/support.js';
import { BackendClient } from './openapi.js';

const SECRET = 'runs-secret-0123456789';

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) {
    out.push(item);
  }
  return out;
}

describe('the run endpoints of the HTTP API', () => {
  const service = createRunService();
  const analysis = new CellAnalysisPool({ threads: 0 });
  let root: string;
  let socketDir: string;
  let server: http.Server;
  let client: BackendClient;

  beforeAll(async () => {
    const { dir, notebook } = writeNotebook(
      [
        { tags: ['imports'], source: 'import time' },
        {
          tags: ['step:count'],
          source: 'for i in range(5):\n    print("line", i, flush=True)\n    time.sleep(0.1)\nn = 5'
        },
        {
          tags: ['step:write', 'prev:count'],
          source:
            'open("result.txt", "w").write(str(n * 2))\nprint("wrote", n * 2)\n' +
            'class Doubled:\n    def _repr_html_(self):\n        return "<b>%d</b>" % (n * 2)\n' +
            'display(Doubled())\n{"doubled": n * 2}'
        }
      ],
      {}
    );
    root = dir;
    fs.mkdirSync(path.join(root, 'work'));
    fs.renameSync(notebook, path.join(root, 'work/flow.ipynb'));
    socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-runs-http-'));
    const counters = { requests: 0 };
    server = createApiServer({
      secret: SECRET,
      counters,
      heartbeatMs: 200,
      routes: apiRoutes({
        rootDir: root,
        version: 'test',
        analysis,
        startedAt: Date.now(),
        counters,
        service
      })
    });
    const socket = path.join(socketDir, 'b.sock');
    await new Promise<void>(resolve => server.listen(socket, resolve));
    client = new BackendClient(socket, SECRET);
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise(resolve => server.close(resolve));
    fs.rmSync(socketDir, { recursive: true, force: true });
  });

  const start = async (): Promise<IRunDetails> => {
    const answer = await client.request<IRunDetails>('POST', '/chard/api/runs', {
      notebook: 'work/flow.ipynb',
      target: 'local',
      local: { python: PYTHON }
    });
    expect(answer.status).toBe(201);
    return answer.body;
  };

  it('starts a run from a root-relative path, streams its events as the service has them, and resumes after Last-Event-ID', async () => {
    const details = await start();
    const id = details.record.id;
    // Root-relative paths only: nothing of the server's file system leaks.
    expect(details.notebook).toBe('work/flow.ipynb');
    expect(details.record.notebook).toBe('work/flow.ipynb');
    expect(details.dir).toBe(`work/.chard/runs/${id}`);
    expect(JSON.stringify(details)).not.toContain(root);

    const live = await client.stream(`/chard/api/runs/${id}/events`);
    expect(live.status).toBe(200);
    const envelopes = live.events.map(e => e.data as IRunEventEnvelope);
    expect(live.events.every(e => e.event === 'run-event')).toBe(true);
    expect(live.events.map(e => e.id)).toEqual(envelopes.map(e => String(e.seq)));
    expect(envelopes[envelopes.length - 1].event).toMatchObject({
      event: 'run-finished',
      status: 'succeeded'
    });
    const lines = envelopes.flatMap(e => (e.event.event === 'log' ? [e.event.line] : []));
    expect(lines).toEqual(expect.arrayContaining(['line 0', 'line 4', 'wrote 10']));
    // The same events as the service gives (and `chard run --json` prints).
    expect(envelopes).toEqual(await collect(service.events(id)));

    // A reconnect (EventSource sends Last-Event-ID) gets exactly what came after; so does ?after=.
    for (const k of [1, 4, envelopes.length - 1]) {
      const again = await client.stream(`/chard/api/runs/${id}/events`, { lastEventId: String(k) });
      expect(again.events.map(e => e.data)).toEqual(envelopes.slice(k));
    }
    const after = await client.stream(`/chard/api/runs/${id}/events?after=3`);
    expect(after.events.map(e => e.data)).toEqual(envelopes.slice(3));

    const got = await client.request<IRunDetails>('GET', `/chard/api/runs/${id}`);
    expect(got.body.record.status).toBe('succeeded');
    const list = await client.request<IRunListResponse>(
      'GET',
      '/chard/api/runs?notebook=work/flow.ipynb&backend=local'
    );
    expect(list.body.runs[0]).toMatchObject({
      id,
      notebook: 'work/flow.ipynb',
      status: 'succeeded'
    });

    const logs = await client.request<ILogsResponse>(
      'GET',
      `/chard/api/runs/${id}/logs?step=count`
    );
    expect(logs.body.chunks.map(c => c.text).join('')).toContain('line 4');
    const followed = await client.stream(`/chard/api/runs/${id}/logs?follow=1`);
    expect(followed.events.every(e => e.event === 'log')).toBe(true);
    expect(followed.events.map(e => (e.data as { text: string }).text).join('')).toContain(
      'wrote 10'
    );

    const outputs = await client.request<IRunOutputsResponse>(
      'GET',
      `/chard/api/runs/${id}/outputs`
    );
    expect(outputs.body.outputs).toEqual([{ path: 'result.txt', size: 2, conflict: false }]);
    const copied = await client.request('POST', `/chard/api/runs/${id}/outputs/copy`, {
      paths: ['result.txt']
    });
    expect(copied.body).toEqual({ copied: ['result.txt'], target: 'work' });
    expect(fs.readFileSync(path.join(root, 'work/result.txt'), 'utf8')).toBe('10');

    // What the steps showed: display() and the last expression's value, with their cell.
    const shown = await client.request<IStepOutputsResponse>(
      'GET',
      `/chard/api/runs/${id}/steps/write/outputs`
    );
    expect(shown.status).toBe(200);
    expect(shown.body).toEqual({
      step: 'write',
      outputs: [
        {
          output_type: 'display_data',
          cell: 2,
          data: { 'text/html': '<b>10</b>', 'text/plain': expect.stringContaining('Doubled') },
          metadata: {}
        },
        {
          output_type: 'execute_result',
          cell: 2,
          data: { 'text/plain': "{'doubled': 10}" },
          metadata: {},
          execution_count: null
        }
      ],
      truncated: null
    });
    const none = await client.request<IStepOutputsResponse>(
      'GET',
      `/chard/api/runs/${id}/steps/count/outputs`
    );
    expect(none.body).toEqual({ step: 'count', outputs: [], truncated: null });
    const noStep = await client.request<IApiError>(
      'GET',
      `/chard/api/runs/${id}/steps/nope/outputs`
    );
    expect([noStep.status, noStep.body.error.code]).toEqual([404, 'not-found']);

    const cancel = await client.request('POST', `/chard/api/runs/${id}/cancel`);
    expect(cancel.body).toMatchObject({ how: 'already-finished' });

    // Re-run from a chosen step: a new run whose first step is reused.
    const again = await client.request<IRunDetails>('POST', `/chard/api/runs/${id}/resume`, {
      from: 'write',
      local: { python: PYTHON }
    });
    expect(again.status).toBe(200);
    expect(again.body.record.id).not.toBe(id);
    const rerun = await client.stream(`/chard/api/runs/${again.body.record.id}/events`);
    const finished = rerun.events[rerun.events.length - 1].data as IRunEventEnvelope;
    expect(finished.event).toMatchObject({ event: 'run-finished', status: 'succeeded' });
    const newest = await client.request<IRunListResponse>('GET', '/chard/api/runs');
    expect(newest.body.runs.map(r => r.id).slice(0, 2)).toEqual([again.body.record.id, id]);
  });

  it('compiles a root-relative notebook into a manifest with its warnings', async () => {
    const answer = await client.request<ICompileResponse>('POST', '/chard/api/compile', {
      path: 'work/flow.ipynb',
      target: 'argo'
    });
    expect(answer.status).toBe(200);
    expect(answer.body.target).toBe('argo');
    expect(answer.body.text).toContain('kind: Workflow');
    expect(Array.isArray(answer.body.warnings)).toBe(true);
  });

  it('cancels a running run and the stream ends with its true state', async () => {
    const details = await start();
    const id = details.record.id;
    const stream = client.stream(`/chard/api/runs/${id}/events`);
    const cancel = await client.request<{ how: string }>('POST', `/chard/api/runs/${id}/cancel`);
    expect(['stopped', 'requested', 'already-finished']).toContain(cancel.body.how);
    const { events } = await stream;
    const last = events[events.length - 1].data as IRunEventEnvelope;
    expect(last.event.event).toBe('run-finished');
    const got = await client.request<IRunDetails>('GET', `/chard/api/runs/${id}`);
    expect(got.body.record.status).toBe((last.event as { status: string }).status);
    expect(['cancelled', 'succeeded']).toContain(got.body.record.status);
  });

  it('answers wrong requests with the documented errors, never a stack or a server path', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['GET', '/chard/api/runs/20990101-000000-abcdef', undefined, 404, 'not-found'],
      ['GET', '/chard/api/runs/..%2F..%2Fetc', undefined, 400, 'bad-request'],
      ['GET', '/chard/api/runs?backend=mainframe', undefined, 400, 'bad-request'],
      ['GET', '/chard/api/runs?notebook=../x.ipynb', undefined, 403, 'outside-root'],
      [
        'POST',
        '/chard/api/runs',
        { notebook: '/etc/passwd', target: 'local' },
        403,
        'outside-root'
      ],
      [
        'POST',
        '/chard/api/runs',
        { notebook: 'work/flow.ipynb', target: 'moon' },
        400,
        'bad-request'
      ],
      ['POST', '/chard/api/runs', { notebook: 'nope.ipynb', target: 'local' }, 404, 'no-such-file'],
      ['POST', '/chard/api/compile', { path: 'work/flow.ipynb' }, 400, 'bad-request'],
      ['DELETE', '/chard/api/runs', undefined, 405, 'method-not-allowed']
    ];
    for (const [method, url, body, status, code] of cases) {
      const answer = await client.request<IApiError>(method, url, body);
      expect([url, answer.status, answer.body.error.code]).toEqual([url, status, code]);
      expect(answer.body.error.message).not.toContain(root);
    }
    const missing = await client.stream('/chard/api/runs/20990101-000000-abcdef/events');
    expect(missing.status).toBe(404);
  });

  it('refuses to run a notebook with errors, and says which, each on its cell and line', async () => {
    const cells = [
      { tags: ['step:one'], source: 'x = 1' },
      { tags: ['step:two', 'prev:one'], source: 'y = x +\n' }
    ];
    fs.writeFileSync(
      path.join(root, 'work/broken.ipynb'),
      JSON.stringify(notebookJson(cells, { chard: { retryLimit: -2 } }))
    );
    const answer = await client.request<IApiError>('POST', '/chard/api/runs', {
      notebook: 'work/broken.ipynb',
      target: 'local',
      local: { python: PYTHON }
    });
    expect(answer.status).toBe(422);
    expect(answer.body.error).toEqual({
      code: 'invalid-notebook',
      message: 'work/broken.ipynb: the notebook has 2 errors; nothing was run',
      diagnostics: [
        {
          severity: 'error',
          cell: null,
          line: null,
          message:
            'notebook metadata `chard.retryLimit` must be a whole number of at least 0, not -2'
        },
        { severity: 'error', cell: 1, line: 1, message: expect.stringMatching(/syntax/i) }
      ]
    });
    const runs = await client.request<IRunListResponse>(
      'GET',
      '/chard/api/runs?notebook=work/broken.ipynb'
    );
    expect(runs.body.runs).toEqual([]);
  });
});
