/**
 * A small Kubeflow Pipelines v2beta1 REST server for tests: pipelines (created empty, versions
 * uploaded as multipart), experiments, runs that move PENDING -> RUNNING -> SUCCEEDED when
 * polled, terminate, display_name EQUALS filters, and injectable failures.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

type Obj = Record<string, unknown>;

export interface IFakeKfp {
  url: string;
  pipelines: Obj[];
  versions: Obj[];
  experiments: Obj[];
  runs: Obj[];
  /** Uploaded specs (the `uploadfile` part), in order. */
  uploads: string[];
  requests: { method: string; path: string; status: number; auth: string | null }[];
  /** Next N requests matching get this status. */
  fail(rule: {
    method?: string;
    pathIncludes?: string;
    status: number;
    times?: number;
    afterHandling?: boolean;
  }): void;
  close(): Promise<void>;
}

export async function startFakeKfp(
  options: { token?: string; pollsToFinish?: number } = {}
): Promise<IFakeKfp> {
  const pipelines: Obj[] = [];
  const versions: Obj[] = [];
  const experiments: Obj[] = [];
  const runs: Obj[] = [];
  const uploads: string[] = [];
  const requests: IFakeKfp['requests'] = [];
  const rules: {
    method?: string;
    pathIncludes?: string;
    status: number;
    times: number;
    afterHandling?: boolean;
  }[] = [];
  const polls = new Map<string, number>();
  let seq = 0;
  const id = (p: string): string => `${p}-${++seq}`;
  const now = (): string => new Date(Date.UTC(2024, 0, 1, 0, 0, seq)).toISOString();

  const filterName = (url: URL): string | null => {
    const f = url.searchParams.get('filter');
    if (!f) {
      return null;
    }
    const parsed = JSON.parse(f) as {
      predicates: { key: string; operation: string; string_value: string }[];
    };
    const p = parsed.predicates[0];
    if (p.key !== 'display_name' || p.operation !== 'EQUALS') {
      throw new Error('unsupported filter');
    }
    return p.string_value;
  };

  const uploadFile = (req: http.IncomingMessage, body: Buffer): string => {
    const type = req.headers['content-type'] ?? '';
    const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
    if (!m) {
      throw Object.assign(new Error('not multipart'), { status: 400 });
    }
    const boundary = `--${m[1] ?? m[2]}`;
    for (const part of body.toString('utf-8').split(boundary)) {
      const [head, ...rest] = part.split('\r\n\r\n');
      if (/name="uploadfile"/.test(head)) {
        return rest.join('\r\n\r\n').replace(/\r\n$/, '');
      }
    }
    throw Object.assign(new Error('no uploadfile part'), { status: 400 });
  };

  const route = (req: http.IncomingMessage, url: URL, body: Buffer): [number, unknown] => {
    const method = req.method ?? 'GET';
    const p = url.pathname;
    if (method === 'GET' && p === '/apis/v2beta1/pipelines') {
      const name = filterName(url);
      return [200, { pipelines: pipelines.filter(x => name === null || x.display_name === name) }];
    }
    if (method === 'POST' && p === '/apis/v2beta1/pipelines') {
      const data = JSON.parse(body.toString('utf-8')) as Obj;
      const name = typeof data.display_name === 'string' ? data.display_name : '';
      if (name === '') {
        return [400, { error: 'pipeline display_name is required' }];
      }
      if (pipelines.some(x => x.display_name === name)) {
        return [409, { error: `pipeline ${name} already exists`, code: 6 }];
      }
      const pipeline = { pipeline_id: id('p'), display_name: name, created_at: now() };
      pipelines.push(pipeline);
      return [200, pipeline];
    }
    if (method === 'POST' && p === '/apis/v2beta1/pipelines/upload_version') {
      const pid = url.searchParams.get('pipelineid') ?? '';
      const name = url.searchParams.get('name') ?? '';
      if (!pipelines.some(x => x.pipeline_id === pid)) {
        return [404, { error: 'no pipeline' }];
      }
      if (versions.some(v => v.pipeline_id === pid && v.display_name === name)) {
        return [409, { error: 'version exists' }];
      }
      uploads.push(uploadFile(req, body));
      const v = {
        pipeline_id: pid,
        pipeline_version_id: id('v'),
        display_name: name,
        created_at: now()
      };
      versions.push(v);
      return [200, v];
    }
    const vm = /^\/apis\/v2beta1\/pipelines\/([^/]+)\/versions$/.exec(p);
    if (method === 'GET' && vm) {
      const name = filterName(url);
      const list = versions
        .filter(v => v.pipeline_id === vm[1] && (name === null || v.display_name === name))
        .sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
      const size = Number(url.searchParams.get('page_size') ?? '100');
      return [200, { pipeline_versions: list.slice(0, size) }];
    }
    if (p === '/apis/v2beta1/experiments') {
      if (method === 'GET') {
        const name = filterName(url);
        return [
          200,
          { experiments: experiments.filter(e => name === null || e.display_name === name) }
        ];
      }
      const data = JSON.parse(body.toString('utf-8')) as Obj;
      const e = {
        experiment_id: id('e'),
        display_name: data.display_name,
        namespace: data.namespace
      };
      experiments.push(e);
      return [200, e];
    }
    if (p === '/apis/v2beta1/runs') {
      if (method === 'GET') {
        const name = filterName(url);
        const exp = url.searchParams.get('experiment_id');
        return [
          200,
          {
            runs: runs.filter(
              r => (name === null || r.display_name === name) && (!exp || r.experiment_id === exp)
            )
          }
        ];
      }
      const data = JSON.parse(body.toString('utf-8')) as Obj;
      const ref = data.pipeline_version_reference as Obj | undefined;
      if (!ref || !versions.some(v => v.pipeline_version_id === ref.pipeline_version_id)) {
        return [400, { error: 'unknown pipeline version' }];
      }
      const run = {
        run_id: id('r'),
        display_name: data.display_name,
        experiment_id: data.experiment_id,
        pipeline_version_reference: ref,
        runtime_config: data.runtime_config,
        state: 'PENDING',
        created_at: now()
      };
      runs.push(run);
      return [200, run];
    }
    const rm = /^\/apis\/v2beta1\/runs\/([^/:]+)(:terminate)?$/.exec(p);
    if (rm) {
      const run = runs.find(r => r.run_id === rm[1]);
      if (!run) {
        return [404, { error: 'no run' }];
      }
      if (rm[2]) {
        run.state = 'CANCELED';
        return [200, {}];
      }
      const n = (polls.get(rm[1]) ?? 0) + 1;
      polls.set(rm[1], n);
      const total = options.pollsToFinish ?? 2;
      if (run.state !== 'CANCELED') {
        run.state = n >= total ? 'SUCCEEDED' : 'RUNNING';
      }
      const done = run.state === 'SUCCEEDED';
      run.run_details = {
        task_details: [
          { display_name: 'make-data', state: n >= 1 ? 'SUCCEEDED' : 'RUNNING' },
          { display_name: 'train', state: done ? 'SUCCEEDED' : 'RUNNING' }
        ]
      };
      return [200, run];
    }
    return [404, { error: `no route ${method} ${p}` }];
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c as Buffer));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const record = {
        method: req.method ?? 'GET',
        path: url.pathname,
        status: 0,
        auth: req.headers.authorization ?? null
      };
      requests.push(record);
      const send = (status: number, body: unknown): void => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
        send(401, { error: 'unauthenticated' });
        return;
      }
      const rule = rules.find(
        r =>
          r.times > 0 &&
          (!r.method || r.method === req.method) &&
          (!r.pathIncludes || url.pathname.includes(r.pathIncludes))
      );
      if (rule && !rule.afterHandling) {
        rule.times--;
        send(rule.status, { error: 'injected' });
        return;
      }
      try {
        const [status, body] = route(req, url, Buffer.concat(chunks));
        if (rule && rule.afterHandling) {
          // The request was handled but the answer is lost.
          rule.times--;
          send(rule.status, { error: 'injected after handling' });
          return;
        }
        send(status, body);
      } catch (error) {
        const status = (error as { status?: number }).status ?? 500;
        send(status, { error: (error as Error).message });
      }
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    pipelines,
    versions,
    experiments,
    runs,
    uploads,
    requests,
    fail: rule => rules.push({ ...rule, times: rule.times ?? 1 }),
    close: () => new Promise(resolve => server.close(() => resolve()))
  };
}
