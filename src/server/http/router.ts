/**
 * The route table of Chard's HTTP API: each route is a method, a path below `/chard/api` and a
 * handler that returns typed data or throws an `HttpError`. New endpoints are new rows.
 */
import type { ApiErrorCode } from '../../core/httpapi.js';
import type { IDiagnostic } from '../../core/plan.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** A failure the client sees as `{error: {code, message}}` with this status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    /** `invalid-notebook`: the notebook's errors, sent with the message. */
    readonly diagnostics: readonly IDiagnostic[] = []
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** What a handler gets: the parsed JSON body (undefined for none), the query, the path's `{names}`. */
export interface IRequestContext {
  body: unknown;
  query: URLSearchParams;
  /** Values of the route's `{name}` segments (the server always sets them). */
  params?: Record<string, string>;
  /** Request headers (lower-case names). */
  headers?: Record<string, string | string[] | undefined>;
  /** Aborted when the client goes away. */
  signal?: AbortSignal;
}

/** One server-sent event. */
export interface IServerSentEvent {
  id?: string;
  event: string;
  /** JSON-encoded data (one line). */
  data: string;
}

/** What a handler returns: a JSON body (status 200 unless given), or a stream of events. */
export interface IRouteResult {
  status?: number;
  body?: unknown;
  /** A text/event-stream answer instead of a JSON body. */
  events?: AsyncIterable<IServerSentEvent>;
}

export interface IRoute {
  method: HttpMethod;
  /** The path below `/chard/api`, e.g. `/health` or `/runs/{id}` (a `{name}` is one segment). */
  path: string;
  handle(context: IRequestContext): Promise<IRouteResult> | IRouteResult;
}

/** The route matched, with its path parameters. */
export interface IRouteMatch {
  route: IRoute;
  params: Record<string, string>;
}

/** The values of `pattern`'s `{name}` segments in `path`, or null when it does not match. */
function matchPath(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) {
    return null;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const name = /^\{(\w+)\}$/.exec(want[i]);
    if (name) {
      let value: string;
      try {
        value = decodeURIComponent(got[i]);
      } catch {
        return null;
      }
      if (value === '') {
        return null;
      }
      params[name[1]] = value;
    } else if (want[i] !== got[i]) {
      return null;
    }
  }
  return params;
}

/** Finds the route for a method and a path below the API prefix; 404/405 as HttpErrors. */
export function findRoute(routes: readonly IRoute[], method: string, path: string): IRouteMatch {
  const forPath = routes
    .map(route => ({ route, params: matchPath(route.path, path) }))
    .filter((m): m is IRouteMatch => m.params !== null);
  if (forPath.length === 0) {
    throw new HttpError(404, 'not-found', `no such endpoint: ${method} ${path}`);
  }
  const match = forPath.find(m => m.route.method === method);
  if (!match) {
    const allowed = [...new Set(forPath.map(m => m.route.method))].join(', ');
    throw new HttpError(405, 'method-not-allowed', `${path} accepts ${allowed}, not ${method}`);
  }
  return match;
}
