/**
 * An event stream the client closes while its run is quiet: the backend stops following the run
 * when the connection closes, not at its next `: ping` (15 s apart, here a minute).
 */
import * as fs from 'node:fs';
import http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { CellAnalysisPool } from '../../../src/server/analysis/pool.js';
import { activeFollowers } from '../../../src/server/common/events.js';
import { apiRoutes, createApiServer } from '../../../src/server/http/index.js';
import { createRunService } from '../../../src/server/index.js';
import { PYTHON, waitFor, writeNotebook } from '../local/support.js';

const SECRET = 'streams-secret-0123456789';

describe('an event stream the client closes', () => {
  const service = createRunService();
  const analysis = new CellAnalysisPool({ threads: 0 });
  let root: string;
  let socket: string;
  let server: http.Server;

  beforeAll(async () => {
    const { dir, notebook } = writeNotebook([
      { tags: ['imports'], source: 'import time' },
      { tags: ['step:wait'], source: 'time.sleep(60)\nn = 1' }
    ]);
    root = dir;
    fs.renameSync(notebook, path.join(root, 'quiet.ipynb'));
    socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chard-streams-')), 'b.sock');
    const counters = { requests: 0 };
    server = createApiServer({
      secret: SECRET,
      counters,
      heartbeatMs: 60_000,
      routes: apiRoutes({
        rootDir: root,
        version: 'test',
        analysis,
        startedAt: Date.now(),
        counters,
        service
      })
    });
    await new Promise<void>(resolve => server.listen(socket, resolve));
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise(resolve => server.close(resolve));
    fs.rmSync(path.dirname(socket), { recursive: true, force: true });
  });

  function request(method: string, url: string, body?: unknown): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: socket,
          method,
          path: url,
          headers: { 'X-Chard-Secret': SECRET, 'Content-Type': 'application/json' }
        },
        res => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
          res.on('end', () => resolve(text));
        }
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** Opens the run's event stream; resolves with the request once its first bytes came. */
  function open(id: string): Promise<http.ClientRequest> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: socket,
        path: `/chard/api/runs/${id}/events`,
        headers: { 'X-Chard-Secret': SECRET, Accept: 'text/event-stream' }
      });
      req.on('response', res => res.once('data', () => resolve(req)));
      req.on('error', error => {
        if (!req.destroyed) {
          reject(error);
        }
      });
      req.end();
    });
  }

  it('stops following the run as soon as the connection closes', async () => {
    // Each phase says how long it took when the test fails (this test once ran out of time in a
    // CI run on a loaded machine; which phase was slow is what to know).
    const phases: string[] = [];
    const t0 = Date.now();
    const phase = async <T>(name: string, work: Promise<T>): Promise<T> => {
      const start = Date.now();
      try {
        return await work;
      } finally {
        phases.push(`${name} ${Date.now() - start} ms (at ${start - t0} ms)`);
      }
    };
    try {
      const started = JSON.parse(
        await phase(
          'start the run',
          request('POST', '/chard/api/runs', {
            notebook: 'quiet.ipynb',
            target: 'local',
            local: { python: PYTHON }
          })
        )
      ) as { record: { id: string } };
      const id = started.record.id;
      try {
        const before = activeFollowers();
        const streams = await phase('open 3 streams', Promise.all([open(id), open(id), open(id)]));
        await phase(
          '3 followers',
          waitFor(() => activeFollowers() === before + 3)
        );
        streams.forEach(s => s.destroy());
        // Well before the next ping (a minute away): the followers are gone.
        await phase(
          'followers gone',
          waitFor(() => activeFollowers() === before, 10_000)
        );
      } finally {
        await phase('cancel', request('POST', `/chard/api/runs/${id}/cancel`, {}));
      }
    } catch (error) {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}; phases: ${phases.join(', ')}`
      );
    }
  }, 120_000);
});
