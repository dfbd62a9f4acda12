import { ServerConnection } from '@jupyterlab/services';

import type { ITensorBoardSession } from '../../src/core/tensorboard.js';
import { ChardRequestError } from '../../src/lab/request.js';
import { TensorBoardApi } from '../../src/lab/tensorboardapi.js';

function api(answer: (request: Request) => Promise<Response>): {
  api: TensorBoardApi;
  requests: { url: string; method: string; body: Promise<string> }[];
} {
  const requests: { url: string; method: string; body: Promise<string> }[] = [];
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://lab.test/user/me/',
    wsUrl: 'ws://lab.test/user/me/',
    token: 'tok',
    fetch: ((input: string | URL | Request, init?: RequestInit) => {
      const request = new Request(input, init);
      requests.push({ url: request.url, method: request.method, body: request.clone().text() });
      return answer(request);
    }) as typeof fetch
  });
  return { api: new TensorBoardApi(settings), requests };
}

const json = (status: number, body: unknown): Promise<Response> =>
  Promise.resolve(
    new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
  );

describe('the TensorBoard panel talks to the backend', () => {
  it('opens runs, and shows a local TensorBoard below the Jupyter base URL', async () => {
    const session: ITensorBoardSession = {
      id: 'abc_DEF-123',
      target: 'local',
      url: 'chard/tensorboard/abc_DEF-123/',
      logdirs: [{ name: 'run', path: '.chard/runs/run/workspace/logs' }],
      started: true
    };
    const { api: tb, requests } = api(() => json(200, session));
    const opened = await tb.open({ notebook: 'a/train.ipynb', runs: ['20260101-120000-aaaaaa'] });
    expect(opened).toEqual(session);
    const url = new URL(requests[0].url);
    expect(url.origin + url.pathname).toBe('http://lab.test/user/me/chard/api/tensorboard/open');
    expect(requests[0].method).toBe('POST');
    expect(JSON.parse(await requests[0].body)).toEqual({
      notebook: 'a/train.ipynb',
      runs: ['20260101-120000-aaaaaa']
    });
    expect(tb.urlOf(opened)).toBe('http://lab.test/user/me/chard/tensorboard/abc_DEF-123/');
    // A Kubeflow Tensorboard is at Kubeflow's own path, not below the Jupyter server.
    expect(tb.urlOf({ ...opened, target: 'cluster', url: '/tensorboard/ns/chard-tb-1/' })).toBe(
      '/tensorboard/ns/chard-tb-1/'
    );
  });

  it('passes the backend error code and message on (the install command for TensorBoard)', async () => {
    const message =
      'TensorBoard is not installed in /usr/bin/python3: install it with `/usr/bin/python3 -m pip install tensorboard`';
    const { api: tb } = api(() =>
      json(424, { error: { code: 'tensorboard-not-installed', message } })
    );
    const opened = tb.open({ notebook: 'train.ipynb', runs: ['20260101-120000-aaaaaa'] });
    await expect(opened).rejects.toBeInstanceOf(ChardRequestError);
    await expect(opened).rejects.toMatchObject({ code: 'tensorboard-not-installed', message });
  });

  it('lists the runs of a notebook for the picker', async () => {
    const { api: tb, requests } = api(() =>
      json(200, {
        runs: [
          {
            id: '20260101-120000-aaaaaa',
            status: 'succeeded',
            createdAt: '2026-01-01T12:00:00.000Z',
            backend: 'local',
            logdirs: ['logs']
          }
        ]
      })
    );
    const { runs } = await tb.runs('dir/my notebook.ipynb');
    expect(runs.map(r => r.logdirs)).toEqual([['logs']]);
    const url = new URL(requests[0].url);
    expect(url.origin + url.pathname).toBe('http://lab.test/user/me/chard/api/tensorboard/runs');
    expect(url.searchParams.get('notebook')).toBe('dir/my notebook.ipynb');
  });
});
