/**
 * A fault-injecting HTTPS proxy in front of the real API server (127.0.0.1 only). Chard talks to
 * it through a kubeconfig like to any server; everything is forwarded unchanged (the bearer token
 * too) except what a test asks for:
 *
 *   next({ method, pathIncludes, status, times, retryAfterSeconds })  answer with a Status
 *       (429 with Retry-After, 500, 503 ...), or reset the connection for status 0;
 *   dropWatchesAfter(ms)   end every watch stream ms after it opened, as at a watch time-out;
 *   expireWatches(times)   answer the next watches as the server does for a compacted
 *       resourceVersion: HTTP 200 and one ERROR event with a 410 Expired Status;
 *   slow(ms)               forward at once, but hold each answer this long (watches excepted).
 *
 * Node's https streams the bodies both ways; a proxy library would add nothing here, where the
 * point is to cut and replace streams at chosen moments.
 */
import { request as httpsRequest, createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface IFaultRule {
  method?: string;
  pathIncludes?: string;
  /** HTTP status of the answer; 0 resets the connection without one. */
  status: number;
  times?: number;
  retryAfterSeconds?: number;
}

export interface IProxiedRequest {
  method: string;
  path: string;
  /** The status the client saw (0: reset by a fault). */
  status: number;
  /** Whether the answer came from a fault rather than the API server. */
  injected: boolean;
}

export interface IFaultProxyOptions {
  upstream: string;
  ca: string;
  cert: string;
  key: string;
}

const REASONS: Record<number, string> = {
  429: 'TooManyRequests',
  500: 'InternalError',
  502: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout'
};

function status(code: number, message: string, reason = REASONS[code] ?? 'InternalError'): object {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code
  };
}

function statusBody(code: number, message: string): string {
  return JSON.stringify(status(code, message));
}

export class FaultProxy {
  readonly requests: IProxiedRequest[] = [];
  private readonly _o: IFaultProxyOptions;
  private readonly _server: Server;
  private readonly _sockets = new Set<Duplex>();
  private _rules: (IFaultRule & { left: number })[] = [];
  private _dropAfterMs: number | null = null;
  private _expire = 0;
  private _slowMs = 0;
  private _slowMatch: { method?: string; pathIncludes?: string; left: number } = { left: Infinity };
  private readonly _watches = new Set<{ open: number; end: () => void }>();
  private readonly _timers = new Set<NodeJS.Timeout>();

  private constructor(options: IFaultProxyOptions) {
    this._o = options;
    this._server = createServer({ cert: options.cert, key: options.key }, (req, res) =>
      this._handle(req, res)
    );
    this._server.on('connection', socket => {
      this._sockets.add(socket);
      socket.on('close', () => this._sockets.delete(socket));
    });
  }

  static async start(options: IFaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await new Promise<void>(resolve => proxy._server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${(this._server.address() as AddressInfo).port}`;
  }

  next(rule: IFaultRule): void {
    this._rules.push({ ...rule, left: rule.times ?? 1 });
  }

  dropWatchesAfter(ms: number | null): void {
    this._dropAfterMs = ms;
    if (ms !== null) {
      for (const watch of this._watches) {
        this._later(() => watch.end(), Math.max(0, watch.open + ms - Date.now()));
      }
    }
  }

  expireWatches(times = 1): void {
    this._expire = times;
  }

  /** Hold answers `ms` (all of them, or the next `times` that match). */
  slow(ms: number, match: { method?: string; pathIncludes?: string; times?: number } = {}): void {
    this._slowMs = ms;
    this._slowMatch = { ...match, left: match.times ?? Infinity };
  }

  private _isSlow(method: string, path: string): boolean {
    const m = this._slowMatch;
    if (
      this._slowMs <= 0 ||
      m.left <= 0 ||
      (m.method && m.method !== method) ||
      (m.pathIncludes && !path.includes(m.pathIncludes))
    ) {
      return false;
    }
    m.left--;
    return true;
  }

  clear(): void {
    this._rules = [];
    this._dropAfterMs = null;
    this._expire = 0;
    this._slowMs = 0;
  }

  /** Requests whose answer (real or injected) had `status`. */
  count(predicate: (r: IProxiedRequest) => boolean): number {
    return this.requests.filter(predicate).length;
  }

  async close(): Promise<void> {
    for (const timer of this._timers) {
      clearTimeout(timer);
    }
    for (const socket of this._sockets) {
      socket.destroy();
    }
    await new Promise<void>(resolve => this._server.close(() => resolve()));
  }

  private _later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this._timers.delete(timer);
      fn();
    }, ms);
    this._timers.add(timer);
  }

  private _handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const record: IProxiedRequest = { method, path, status: 0, injected: false };
    this.requests.push(record);
    const watch = /[?&]watch=(true|1)/.test(path);
    const rule = this._rules.find(
      r =>
        r.left > 0 &&
        (!r.method || r.method === method) &&
        (!r.pathIncludes || path.includes(r.pathIncludes))
    );
    const go = (): void => {
      if (rule) {
        rule.left--;
        record.injected = true;
        req.resume();
        if (rule.status === 0) {
          req.socket.destroy();
          return;
        }
        record.status = rule.status;
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (rule.retryAfterSeconds !== undefined) {
          headers['retry-after'] = String(rule.retryAfterSeconds);
        }
        res.writeHead(rule.status, headers);
        res.end(statusBody(rule.status, `injected by the test proxy (${rule.status})`));
        return;
      }
      if (watch && this._expire > 0) {
        this._expire--;
        record.injected = true;
        record.status = 200;
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        const rv = /resourceVersion=(\d+)/.exec(path)?.[1] ?? '0';
        const expired = status(
          410,
          `too old resource version: ${rv} (${Number(rv) + 1})`,
          'Expired'
        );
        res.end(`${JSON.stringify({ type: 'ERROR', object: expired })}\n`);
        return;
      }
      this._forward(req, res, record, watch);
    };
    go();
  }

  private _forward(
    req: IncomingMessage,
    res: ServerResponse,
    record: IProxiedRequest,
    watch: boolean
  ): void {
    const upstream = new URL(req.url ?? '/', this._o.upstream);
    const headers = { ...req.headers, host: upstream.host };
    // The whole request is read first, then sent on: once the client has sent it, it lands,
    // whatever the client does next (gives up waiting, retries).
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () =>
      this._send(upstream, headers, Buffer.concat(chunks), req, res, record, watch)
    );
  }

  private _send(
    upstream: URL,
    headers: IncomingMessage['headers'],
    body: Buffer,
    req: IncomingMessage,
    res: ServerResponse,
    record: IProxiedRequest,
    watch: boolean
  ): void {
    const out = httpsRequest(upstream, { method: req.method, headers, ca: this._o.ca }, up => {
      record.status = up.statusCode ?? 0;
      if (!watch && this._isSlow(req.method ?? 'GET', req.url ?? '/')) {
        // A slow server: the request has landed; its answer comes late (or never, if the
        // client has given up by then).
        up.pause();
        this._later(() => this._answer(up, res, watch), this._slowMs);
      } else {
        this._answer(up, res, watch);
      }
    });
    out.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(statusBody(502, 'the test proxy could not reach the API server'));
      } else {
        res.destroy();
      }
    });
    out.end(body);
  }

  private _answer(up: IncomingMessage, res: ServerResponse, watch: boolean): void {
    if (res.destroyed || res.writableEnded) {
      up.destroy();
      return;
    }
    res.on('close', () => up.destroy());
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
    if (watch && up.statusCode === 200) {
      const entry = {
        open: Date.now(),
        end: () => {
          up.destroy();
          res.end();
        }
      };
      this._watches.add(entry);
      res.on('close', () => this._watches.delete(entry));
      if (this._dropAfterMs !== null) {
        this._later(entry.end, this._dropAfterMs);
      }
    }
  }
}
