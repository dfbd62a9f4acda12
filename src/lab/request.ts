/**
 * The one way the frontend talks to Chard's server extension: `/chard/api/<endpoint>` below
 * the Jupyter server's base URL, through ServerConnection (which adds Jupyter's token and XSRF
 * header). Answers are parsed into typed data with a guard; every failure is a ChardRequestError
 * that says what happened and what to do.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { isApiError } from '../core/httpapi.js';
import type { ApiErrorCode } from '../core/httpapi.js';
import type { IDiagnostic } from '../core/plan.js';

/** What went wrong, for the UI to choose its words and advice. */
export type RequestFailure =
  /** `/chard/api` does not exist: the server extension is not installed or not enabled. */
  | 'not-installed'
  /** The Jupyter server cannot be reached. */
  | 'network'
  /** Chard answered with an error (`code` says which). */
  | 'api'
  /** Something else answered, or the answer had an unexpected shape. */
  | 'unexpected';

export class ChardRequestError extends Error {
  constructor(
    readonly failure: RequestFailure,
    message: string,
    readonly status: number | null = null,
    readonly code: ApiErrorCode | null = null,
    /** `invalid-notebook`: the notebook's errors, as the backend found them in the saved file. */
    readonly diagnostics: readonly IDiagnostic[] = []
  ) {
    super(message);
    this.name = 'ChardRequestError';
  }
}

/** The pip command that installs the server extension (shown when it is missing). */
export const INSTALL_COMMAND = 'pip install jupyterlab_chard';

/**
 * Request `endpoint` and return its JSON body once `guard` accepts it. `init.body`, when an
 * object, is sent as JSON.
 */
export async function requestAPI<T>(
  endpoint: string,
  guard: (value: unknown) => value is T,
  init: { method?: string; body?: unknown } = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'chard', 'api', endpoint);
  const request: RequestInit = { method: init.method ?? 'GET' };
  if (init.body !== undefined) {
    request.body = JSON.stringify(init.body);
    request.headers = { 'Content-Type': 'application/json' };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, request, settings);
  } catch (error) {
    throw new ChardRequestError(
      'network',
      `the Jupyter server cannot be reached (${error instanceof Error ? error.message : String(error)})`
    );
  }
  const data = await Private.json(response);
  if (response.ok) {
    if (guard(data)) {
      return data;
    }
    throw new ChardRequestError('unexpected', `unexpected answer from ${url}`, response.status);
  }
  if (isApiError(data)) {
    throw new ChardRequestError(
      'api',
      data.error.message,
      response.status,
      data.error.code,
      data.error.diagnostics ?? []
    );
  }
  if (response.status === 404) {
    throw new ChardRequestError(
      'not-installed',
      `the Chard server extension is not installed or not enabled: ${INSTALL_COMMAND}, then restart JupyterLab`,
      404
    );
  }
  throw new ChardRequestError(
    'unexpected',
    `${url} answered ${response.status} ${response.statusText}`,
    response.status
  );
}

namespace Private {
  export async function json(response: Response): Promise<unknown> {
    const text = await response.text().catch(() => '');
    if (!text) {
      return undefined;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }
}
