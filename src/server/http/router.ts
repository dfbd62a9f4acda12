/**
 * The route table of Chard's HTTP API: each route is a method, a path below `/chard/api` and a
 * handler that returns typed data or throws an `HttpError`. New endpoints are new rows.
 */
import type { ApiErrorCode } from '../../core/httpapi.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** A failure the client sees as `{error: {code, message}}` with this status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** What a handler gets: the parsed JSON body (undefined for none) and the query. */
export interface IRequestContext {
  body: unknown;
  query: URLSearchParams;
}

/** What a handler returns: a JSON body (status 200 unless given). */
export interface IRouteResult {
  status?: number;
  body: unknown;
}

export interface IRoute {
  method: HttpMethod;
  /** The path below `/chard/api`, e.g. `/health`. */
  path: string;
  handle(context: IRequestContext): Promise<IRouteResult> | IRouteResult;
}

/** Finds the route for a method and a path below the API prefix; 404/405 as HttpErrors. */
export function findRoute(routes: readonly IRoute[], method: string, path: string): IRoute {
  const forPath = routes.filter(r => r.path === path);
  if (forPath.length === 0) {
    throw new HttpError(404, 'not-found', `no such endpoint: ${method} ${path}`);
  }
  const route = forPath.find(r => r.method === method);
  if (!route) {
    const allowed = forPath.map(r => r.method).join(', ');
    throw new HttpError(405, 'method-not-allowed', `${path} accepts ${allowed}, not ${method}`);
  }
  return route;
}
