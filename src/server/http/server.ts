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
import type { IRoute, IRouteResult } from './router.js';

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
}

export interface IRequestCounters {
  requests: number;
}

export function createApiServer(options: IApiServerOptions): http.Server {
  const expected = Private.digest(options.secret);
  const maxBody = options.maxBodyBytes ?? 8 * 1024 * 1024;
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const server = http.createServer((req, res) => {
    if (options.counters) {
      options.counters.requests += 1;
    }
    Private.answer(req, expected, maxBody, options.routes).then(
      result => Private.send(res, result.status ?? 200, result.body),
      (error: unknown) => {
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
      }
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
    routes: readonly IRoute[]
  ): Promise<IRouteResult> {
    if (!secretMatches(req.headers[SECRET_HEADER], expected)) {
      // Do not read the body of an unauthenticated request.
      req.resume();
      throw new HttpError(403, 'forbidden', 'missing or wrong backend secret');
    }
    const url = new URL(req.url ?? '/', 'http://backend');
    if (url.pathname !== API_PREFIX && !url.pathname.startsWith(`${API_PREFIX}/`)) {
      throw new HttpError(404, 'not-found', `no such endpoint: ${url.pathname}`);
    }
    const route = findRoute(routes, req.method ?? 'GET', url.pathname.slice(API_PREFIX.length));
    const body = await readJson(req, maxBody);
    return route.handle({ body, query: url.searchParams });
  }

  async function readJson(req: http.IncomingMessage, maxBody: number): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > maxBody) {
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
    return { error: { code: error.code, message: error.message } };
  }

  export function send(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store'
    });
    res.end(text);
  }
}
