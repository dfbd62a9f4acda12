/**
 * Chard's HTTP API server (node:http). Every request must carry the per-process secret in the
 * `x-chard-secret` header (compared in constant time; 403 otherwise): the socket may be reachable
 * by other local users, the secret is known only to the Jupyter server extension that started us.
 * Bodies and answers are JSON; errors are `{error: {code, message}}`, never a stack trace.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { API_PREFIX, SECRET_HEADER } from '../../core/httpapi.js';
import type { IApiError } from '../../core/httpapi.js';
import { HttpError, findRoute } from './router.js';
import type { IRoute, IRouteResult, IServerSentEvent } from './router.js';

export interface IApiServerOptions {
  /** The secret every request must present. */
  secret: string;
  routes: readonly IRoute[];
  /** Largest accepted request body (default 8 MiB). */
  maxBodyBytes?: number;
  /** Counts every request received (with or without the secret). */
  counters?: IRequestCounters;
  /** Where unexpected errors are reported (default: stderr). */
  log?: (message: string) => void;
  /** Milliseconds between `: ping` comments on an event stream (default 15 s). */
  heartbeatMs?: number;
}

export interface IRequestCounters {
  requests: number;
}

export function createApiServer(options: IApiServerOptions): http.Server {
  const expected = Private.digest(options.secret);
  const maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const fail = (res: http.ServerResponse, error: unknown): void => {
    if (error instanceof HttpError) {
      Private.send(res, error.status, Private.errorBody(error));
      return;
    }
    log(
      `chard backend: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`
    );
    Private.send(res, 500, {
      error: {
        code: 'internal',
        message: 'internal error in the Chard backend (see the Jupyter server log)'
      }
    } satisfies IApiError);
  };
  const server = http.createServer((req, res) => {
    if (options.counters) {
      options.counters.requests += 1;
    }
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    Private.answer(req, expected, maxBody, options.routes, gone.signal).then(
      result => {
        if (result.events) {
          Private.stream(res, result.events, gone, heartbeatMs).catch((error: unknown) =>
            fail(res, error)
          );
        } else {
          Private.send(res, result.status ?? 200, result.body);
        }
      },
      (error: unknown) => fail(res, error)
    );
  });
  // A request Node cannot parse gets a JSON answer too.
  server.on('clientError', (_error, socket) => {
    if (socket.writable) {
      const text = JSON.stringify({
        error: { code: 'bad-request', message: 'malformed HTTP request' }
      } satisfies IApiError);
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n' +
          `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`
      );
    } else {
      socket.destroy();
    }
  });
  return server;
}

namespace Private {
  export function digest(secret: string): Buffer {
    return createHash('sha256').update(secret, 'utf8').digest();
  }

  /** Constant-time comparison (both sides hashed first, so lengths never differ). */
  export function secretMatches(given: string | string[] | undefined, expected: Buffer): boolean {
    return typeof given === 'string' && timingSafeEqual(digest(given), expected);
  }

  export async function answer(
    req: http.IncomingMessage,
    expected: Buffer,
    maxBody: number,
    routes: readonly IRoute[],
    signal: AbortSignal
  ): Promise<IRouteResult> {
    if (!secretMatches(req.headers[SECRET_HEADER], expected)) {
      // Do not read the body of an unauthenticated request.
      req.resume();
      throw new HttpError(403, 'forbidden', 'missing or wrong backend secret');
    }
    const url = new URL(req.url ?? '/', 'http://backend');
    if (url.pathname !== API_PREFIX && !url.pathname.startsWith(`${API_PREFIX}/`)) {
      req.resume();
      throw new HttpError(404, 'not-found', `no such endpoint: ${url.pathname}`);
    }
    // The body is read before routing: a request refused by method or path has its body
    // consumed too, so the forwarder is never answered while it is still sending.
    const body = await readJson(req, maxBody);
    const match = findRoute(routes, req.method ?? 'GET', url.pathname.slice(API_PREFIX.length));
    return match.route.handle({
      body,
      query: url.searchParams,
      params: match.params,
      headers: req.headers,
      signal
    });
  }

  async function readJson(req: http.IncomingMessage, maxBody: number): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxBody) {
        req.resume(); // drop the rest
        throw new HttpError(413, 'too-large', `the request body is larger than ${maxBody} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    if (size === 0) {
      return undefined;
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new HttpError(400, 'bad-request', 'the request body is not valid JSON');
    }
  }

  export function errorBody(error: HttpError): IApiError {
    return {
      error: {
        code: error.code,
        message: error.message,
        ...(error.diagnostics.length > 0 ? { diagnostics: [...error.diagnostics] } : {})
      }
    };
  }

  /**
   * A text/event-stream answer: each event as `id:`/`event:`/`data:` lines, a `: ping` comment
   * every `heartbeatMs` (so proxies keep the connection and clients notice a dead one), the end
   * when the events end. An error after the headers went out ends the stream (the client
   * reconnects with Last-Event-ID).
   */
  export async function stream(
    res: http.ServerResponse,
    events: AsyncIterable<IServerSentEvent>,
    gone: AbortController,
    heartbeatMs: number
  ): Promise<void> {
    const iterator = events[Symbol.asyncIterator]();
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no'
    });
    res.write(': chard\n\n');
    const ping = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        if (gone.signal.aborted) {
          break;
        }
        res.write(format(next.value));
      }
    } catch (error) {
      if (!gone.signal.aborted) {
        const message = error instanceof Error ? error.message : String(error);
        res.write(
          format({ event: 'error', data: JSON.stringify({ error: { code: 'internal', message } }) })
        );
      }
    } finally {
      clearInterval(ping);
      await iterator.return?.(undefined);
      res.end();
    }
  }

  function format(event: IServerSentEvent): string {
    const id = event.id === undefined ? '' : `id: ${event.id}\n`;
    return `${id}event: ${event.event}\ndata: ${event.data}\n\n`;
  }

  export function send(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store'
    });
    res.end(text);
  }
}
