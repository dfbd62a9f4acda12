import * as fs from 'node:fs';
import http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { SECRET_HEADER, isApiError, isHealthResponse } from '../../../src/core/httpapi.js';
import { CellAnalysisPool } from '../../../src/server/analysis/pool.js';
import { HttpError, apiRoutes, createApiServer } from '../../../src/server/http/index.js';
import type { IRoute } from '../../../src/server/http/index.js';

const SECRET = 'test-secret-0123456789';

interface IAnswer {
  status: number;
  body: unknown;
}

function request(
  socket: string,
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: string
): Promise<IAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: url, headers }, res => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString())
          });
        } catch (error) {
          reject(error);
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the backend HTTP API server', () => {
  let dir: string;
  let socket: string;
  let server: http.Server;
  let logged: string[];
  const analysis = new CellAnalysisPool({ threads: 0 });
  const counters = { requests: 0 };
  const failing: IRoute = {
    method: 'GET',
    path: '/explode',
    handle: () => {
      throw new TypeError('secret internals at /srv/x.ts:12');
    }
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-http-'));
    socket = path.join(dir, 'b.sock');
    fs.mkdirSync(path.join(dir, 'root'));
    fs.copyFileSync(
      path.join(process.cwd(), 'tests/e2e-lab/notebooks/churn.ipynb'),
      path.join(dir, 'root', 'churn.ipynb')
    );
    logged = [];
    server = createApiServer({
      secret: SECRET,
      counters,
      log: m => logged.push(m),
      routes: [
        ...apiRoutes({
          rootDir: path.join(dir, 'root'),
          version: '9.9.9',
          analysis,
          startedAt: Date.now(),
          counters
        }),
        failing
      ],
      maxBodyBytes: 1000
    });
    await new Promise<void>(resolve => server.listen(socket, resolve));
  });

  afterAll(async () => {
    await new Promise(resolve => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ok = { [SECRET_HEADER]: SECRET };

  it('refuses every request without the secret or with a wrong one, before routing', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { [SECRET_HEADER]: 'wrong' },
      { [SECRET_HEADER]: SECRET.slice(1) }
    ];
    for (const headers of attempts) {
      for (const [method, url] of [
        ['GET', '/chard/api/health'],
        ['POST', '/chard/api/analyze'],
        ['GET', '/nothing']
      ]) {
        const body = method === 'POST' ? '{"path": "churn.ipynb"}' : undefined;
        const answer = await request(socket, method, url, headers, body);
        expect(answer).toEqual({
          status: 403,
          body: { error: { code: 'forbidden', message: 'missing or wrong backend secret' } }
        });
      }
    }
  });

  it('answers health with the version, pid and request count', async () => {
    const before = counters.requests;
    const answer = await request(socket, 'GET', '/chard/api/health', ok);
    expect(answer.status).toBe(200);
    expect(isHealthResponse(answer.body)).toBe(true);
    expect(answer.body).toMatchObject({ state: 'ready', version: '9.9.9', pid: process.pid });
    expect((answer.body as { requests: number }).requests).toBe(before + 1);
  });

  it('analyzes a notebook inside the root into its plan', async () => {
    const answer = await request(
      socket,
      'POST',
      '/chard/api/analyze',
      { ...ok, 'Content-Type': 'application/json' },
      JSON.stringify({ path: 'churn.ipynb' })
    );
    expect(answer.status).toBe(200);
    const plan = answer.body as { steps: { name: string }[] };
    expect(plan.steps.map(s => s.name)).toEqual(['load_data', 'split', 'train_model']);
  });

  it('gives JSON errors for unknown endpoints, wrong methods, bad bodies and large bodies', async () => {
    const cases: [string, string, string | undefined, number, string][] = [
      ['GET', '/chard/api/nope', undefined, 404, 'not-found'],
      ['GET', '/elsewhere', undefined, 404, 'not-found'],
      ['GET', '/chard/api/analyze', undefined, 405, 'method-not-allowed'],
      ['POST', '/chard/api/analyze', '{broken', 400, 'bad-request'],
      ['POST', '/chard/api/analyze', '{"file": "x"}', 400, 'bad-request'],
      ['POST', '/chard/api/analyze', JSON.stringify({ path: 'x'.repeat(2000) }), 413, 'too-large'],
      ['POST', '/chard/api/analyze', '{"path": "missing.ipynb"}', 404, 'no-such-file'],
      ['POST', '/chard/api/analyze', '{"path": "../x.ipynb"}', 403, 'outside-root']
    ];
    for (const [method, url, body, status, code] of cases) {
      const answer = await request(socket, method, url, ok, body);
      expect([url, body?.slice(0, 20), answer.status]).toEqual([url, body?.slice(0, 20), status]);
      expect(isApiError(answer.body)).toBe(true);
      expect((answer.body as { error: { code: string } }).error.code).toBe(code);
    }
  });

  it('answers an unexpected failure with a 500 that hides the stack, and logs it', async () => {
    const answer = await request(socket, 'GET', '/chard/api/explode', ok);
    expect(answer.status).toBe(500);
    expect(JSON.stringify(answer.body)).not.toContain('/srv/x.ts');
    expect((answer.body as { error: { code: string } }).error.code).toBe('internal');
    expect(logged.join('\n')).toContain('secret internals');
  });

  it('HttpError carries status and code', () => {
    const e = new HttpError(418, 'bad-request', 'teapot');
    expect([e.status, e.code, e.message]).toEqual([418, 'bad-request', 'teapot']);
  });
});
