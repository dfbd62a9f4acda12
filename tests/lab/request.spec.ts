import { ServerConnection } from '@jupyterlab/services';

import { isHealthResponse } from '../../src/core/httpapi.js';
import { BackendMonitor } from '../../src/lab/backend.js';
import { ChardRequestError, INSTALL_COMMAND, requestAPI } from '../../src/lab/request.js';
import type { IBackendStatus } from '../../src/lab/tokens.js';

/** Server settings whose fetch answers with `answer` and records the URLs asked for. */
function settings(answer: (request: Request) => Promise<Response>): {
  settings: ServerConnection.ISettings;
  urls: string[];
} {
  const urls: string[] = [];
  return {
    urls,
    settings: ServerConnection.makeSettings({
      baseUrl: 'http://lab.test/user/me/',
      wsUrl: 'ws://lab.test/user/me/',
      token: 'tok',
      fetch: ((input: string | URL | Request, init?: RequestInit) => {
        const request = new Request(input, init);
        urls.push(request.url);
        return answer(request);
      }) as typeof fetch
    })
  };
}

const json = (status: number, body: unknown) =>
  Promise.resolve(
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
  );

const HEALTH = { state: 'ready', version: '0.1.0', pid: 12, uptimeSeconds: 3, requests: 4 };

async function failure(promise: Promise<unknown>): Promise<ChardRequestError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ChardRequestError) {
      return error;
    }
    throw error;
  }
  throw new Error('the request did not fail');
}

describe('requestAPI', () => {
  it('asks /chard/api/<endpoint> below the base URL and returns the guarded answer', async () => {
    const s = settings(() => json(200, HEALTH));
    expect(await requestAPI('health', isHealthResponse, {}, s.settings)).toEqual(HEALTH);
    expect(s.urls[0].startsWith('http://lab.test/user/me/chard/api/health')).toBe(true);
  });

  it('sends a JSON body', async () => {
    let sent: Request | undefined;
    const s = settings(request => {
      sent = request;
      return json(200, { steps: [], diagnostics: [] });
    });
    const isPlan = (v: unknown): v is object => typeof v === 'object' && v !== null;
    await requestAPI('analyze', isPlan, { method: 'POST', body: { path: 'a.ipynb' } }, s.settings);
    expect(sent?.method).toBe('POST');
    expect(await sent?.text()).toBe('{"path":"a.ipynb"}');
    expect(sent?.headers.get('Content-Type')).toBe('application/json');
  });

  it('turns a 404 that is not Chard\'s into "the server extension is not installed"', async () => {
    const s = settings(() => Promise.resolve(new Response('<html>404</html>', { status: 404 })));
    const error = await failure(requestAPI('health', isHealthResponse, {}, s.settings));
    expect([error.failure, error.status]).toEqual(['not-installed', 404]);
    expect(error.message).toContain(INSTALL_COMMAND);
  });

  it("keeps Chard's own errors with their code and message", async () => {
    const s = settings(() =>
      json(503, { error: { code: 'backend-restarting', message: 'restarting in 0.1 s' } })
    );
    const error = await failure(requestAPI('health', isHealthResponse, {}, s.settings));
    expect([error.failure, error.status, error.code, error.message]).toEqual([
      'api',
      503,
      'backend-restarting',
      'restarting in 0.1 s'
    ]);
  });

  it('refuses an answer of the wrong shape, and reports an unreachable server', async () => {
    const wrong = settings(() => json(200, { state: 'ready' }));
    expect(
      (await failure(requestAPI('health', isHealthResponse, {}, wrong.settings))).failure
    ).toBe('unexpected');
    const down = settings(() => Promise.reject(new TypeError('Failed to fetch')));
    const error = await failure(requestAPI('health', isHealthResponse, {}, down.settings));
    expect(error.failure).toBe('network');
    expect(error.message).toContain('Failed to fetch');
  });
});

describe('BackendMonitor', () => {
  it('publishes each change of state once, and checks again on refresh', async () => {
    const answers: IBackendStatus[] = [
      { state: 'starting', message: 'starting' },
      { state: 'starting', message: 'starting' },
      { state: 'ready', message: '' }
    ];
    let calls = 0;
    const monitor = new BackendMonitor(() => Promise.resolve(answers[Math.min(calls++, 2)]));
    const seen: string[] = [];
    monitor.statusChanged.connect((_, status) => seen.push(status.state));
    expect(monitor.status.state).toBe('unknown');
    await monitor.refresh();
    await monitor.refresh();
    await monitor.refresh();
    expect(seen).toEqual(['starting', 'ready']);
    expect(monitor.status.state).toBe('ready');
    monitor.dispose();
  });
});
