/**
 * The TensorBoard endpoints over HTTP, on the backend's socket as the server extension reaches
 * them: a real TensorBoard on real event files, every answer checked against
 * schema/openapi.yaml, and the errors a panel explains.
 */
import * as fs from 'node:fs';
import http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IApiError } from '../../../src/core/httpapi.js';
import type {
  ITensorBoardRunsResponse,
  ITensorBoardSession,
  ITensorBoardTarget
} from '../../../src/core/tensorboard.js';
import { createApiServer, tensorBoardRoutes } from '../../../src/server/http/index.js';
import { LocalTensorBoards } from '../../../src/server/tensorboard/local.js';
import { TensorBoardService } from '../../../src/server/tensorboard/service.js';
import { expectedLoss, scalars, venvPython, writeRuns } from '../tensorboard/support.js';
import type { IWrittenRuns } from '../tensorboard/support.js';
import { BackendClient } from './openapi.js';

const SECRET = 'tensorboard-test-secret';

describe('the TensorBoard endpoints', () => {
  let root: string;
  let runs: IWrittenRuns;
  let boards: LocalTensorBoards;
  let socketDir: string;
  let server: http.Server;
  let client: BackendClient;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-tb-http-'));
    runs = writeRuns(root);
    fs.writeFileSync(path.join(root, 'train.ipynb'), '{}');
    boards = new LocalTensorBoards({ python: venvPython(), pathPrefix: '/chard/tensorboard' });
    const counters = { requests: 0 };
    server = createApiServer({
      secret: SECRET,
      counters,
      routes: tensorBoardRoutes({
        rootDir: root,
        service: new TensorBoardService({
          rootDir: root,
          local: boards,
          cluster: () => Promise.reject(new Error('unused'))
        })
      })
    });
    socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-tb-sock-'));
    const socket = path.join(socketDir, 'b.sock');
    await new Promise<void>(resolve => server.listen(socket, resolve));
    client = new BackendClient(socket, SECRET);
  });

  afterAll(async () => {
    await boards.stopAll();
    server.closeAllConnections();
    await new Promise(resolve => server.close(resolve));
    fs.rmSync(socketDir, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("lists a notebook's runs, opens TensorBoard on two of them, and stops it when its panel closes", async () => {
    const listed = await client.request<ITensorBoardRunsResponse>(
      'GET',
      '/chard/api/tensorboard/runs?notebook=train.ipynb'
    );
    expect(listed.status).toBe(200);
    expect(listed.body.runs.map(r => [r.id, r.logdirs])).toEqual([
      [runs.runB, ['runs']],
      [runs.runA, ['logs']]
    ]);

    const opened = await client.request<ITensorBoardSession>(
      'POST',
      '/chard/api/tensorboard/open',
      { notebook: 'train.ipynb', runs: [runs.runA, runs.runB] }
    );
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({
      target: 'local',
      url: `chard/tensorboard/${opened.body.id}/`,
      started: true,
      logdirs: [
        { name: runs.runA, path: `.chard/runs/${runs.runA}/workspace/logs` },
        { name: runs.runB, path: `.chard/runs/${runs.runB}/workspace/runs` }
      ]
    });
    const target = await client.request<ITensorBoardTarget>(
      'GET',
      `/chard/api/tensorboard/target?id=${opened.body.id}`
    );
    const base = `http://127.0.0.1:${target.body.port}/chard/tensorboard/${opened.body.id}/`;
    const points = await scalars(base, `${runs.runB}/.`, 'loss');
    expect(points.map(p => p[2])).toEqual(
      Array.from({ length: runs.steps }, (_, step) => expect.closeTo(expectedLoss(step, 0.5), 5))
    );

    const closed = await client.request('POST', '/chard/api/tensorboard/close', {
      id: opened.body.id
    });
    expect(closed.body).toEqual({ closed: opened.body.id });
    const gone = await client.request<IApiError>(
      'GET',
      `/chard/api/tensorboard/target?id=${opened.body.id}`
    );
    expect([gone.status, gone.body.error.code]).toEqual([404, 'not-found']);
  }, 120000);

  it('answers wrong requests with the documented errors, never a server path', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['GET', '/chard/api/tensorboard/runs', undefined, 400, 'bad-request'],
      ['GET', '/chard/api/tensorboard/runs?notebook=../etc/passwd', undefined, 403, 'outside-root'],
      ['POST', '/chard/api/tensorboard/open', { runs: 'all' }, 400, 'bad-request'],
      ['POST', '/chard/api/tensorboard/open', { runs: [runs.runA] }, 400, 'bad-request'],
      [
        'POST',
        '/chard/api/tensorboard/open',
        { notebook: 'train.ipynb', runs: ['../../etc'] },
        400,
        'bad-request'
      ],
      [
        'POST',
        '/chard/api/tensorboard/open',
        { logdirs: [{ name: 'x', path: '/etc' }] },
        403,
        'outside-root'
      ],
      [
        'POST',
        '/chard/api/tensorboard/open',
        { notebook: 'train.ipynb', runs: ['20260101-000000-cccccc'] },
        404,
        'no-logs'
      ],
      ['POST', '/chard/api/tensorboard/close', {}, 400, 'bad-request'],
      ['GET', '/chard/api/tensorboard/target?id=nope', undefined, 404, 'not-found']
    ];
    for (const [method, url, body, status, code] of cases) {
      const answer = await client.request<IApiError>(method, url, body);
      expect([url, body, answer.status, answer.body.error?.code]).toEqual([
        url,
        body,
        status,
        code
      ]);
      expect(answer.body.error.message).not.toContain(root);
    }
  });
});
