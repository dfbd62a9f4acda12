/**
 * The TensorBoard endpoints of Chard's backend, seen from the browser: one typed request helper
 * over `ServerConnection.makeRequest` (Jupyter's token and XSRF header), a typed error class, and
 * a 404 from the Jupyter server turned into "the Chard server extension is not installed".
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { ApiErrorCode } from '../core/httpapi.js';
import { API_PREFIX, isApiError } from '../core/httpapi.js';
import { isTensorBoardRunsResponse, isTensorBoardSession } from '../core/tensorboard.js';
import type {
  ITensorBoardCloseRequest,
  ITensorBoardOpenRequest,
  ITensorBoardRunsResponse,
  ITensorBoardSession
} from '../core/tensorboard.js';

/** A failed request, with the backend's error code when it gave one. */
export class TensorBoardRequestError extends Error {
  constructor(
    readonly code: ApiErrorCode | 'no-extension' | 'network',
    message: string
  ) {
    super(message);
    this.name = 'TensorBoardRequestError';
  }
}

export class TensorBoardApi {
  constructor(settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {
    this.settings = settings;
  }

  readonly settings: ServerConnection.ISettings;

  /** The browser URL of a session: below the Jupyter base URL (local) or Kubeflow's path. */
  urlOf(session: ITensorBoardSession): string {
    return session.target === 'local'
      ? URLExt.join(this.settings.baseUrl, session.url)
      : session.url;
  }

  async open(request: ITensorBoardOpenRequest): Promise<ITensorBoardSession> {
    const body = await this._request('tensorboard/open', 'POST', request);
    if (!isTensorBoardSession(body)) {
      throw new TensorBoardRequestError('internal', 'unexpected answer from the Chard backend');
    }
    return body;
  }

  async close(request: ITensorBoardCloseRequest): Promise<void> {
    await this._request('tensorboard/close', 'POST', request);
  }

  async runs(notebook: string): Promise<ITensorBoardRunsResponse> {
    const body = await this._request(
      `tensorboard/runs?notebook=${encodeURIComponent(notebook)}`,
      'GET'
    );
    if (!isTensorBoardRunsResponse(body)) {
      throw new TensorBoardRequestError('internal', 'unexpected answer from the Chard backend');
    }
    return body;
  }

  private async _request(endpoint: string, method: string, body?: unknown): Promise<unknown> {
    const url = URLExt.join(this.settings.baseUrl, API_PREFIX, endpoint);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        url,
        body === undefined ? { method } : { method, body: JSON.stringify(body) },
        this.settings
      );
    } catch (error) {
      throw new TensorBoardRequestError(
        'network',
        `cannot reach the Jupyter server: ${error instanceof Error ? error.message : String(error)}`
      );
    }
    let data: unknown = null;
    try {
      data = await response.json();
    } catch {
      // not JSON: handled below
    }
    if (response.ok) {
      return data;
    }
    if (isApiError(data)) {
      throw new TensorBoardRequestError(data.error.code, data.error.message);
    }
    if (response.status === 404) {
      throw new TensorBoardRequestError(
        'no-extension',
        'the Chard server extension is not installed or not enabled in this Jupyter server'
      );
    }
    throw new TensorBoardRequestError(
      'internal',
      `HTTP ${response.status} from the Jupyter server`
    );
  }
}
