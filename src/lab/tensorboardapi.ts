/**
 * The TensorBoard endpoints of Chard's backend, seen from the browser, over the one typed
 * request helper (`requestAPI`: Jupyter's token and XSRF header, typed errors).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { isTensorBoardRunsResponse, isTensorBoardSession } from '../core/tensorboard.js';
import type {
  ITensorBoardCloseRequest,
  ITensorBoardOpenRequest,
  ITensorBoardRunsResponse,
  ITensorBoardSession
} from '../core/tensorboard.js';
import { requestAPI } from './request.js';

function isClosed(value: unknown): value is { closed: string } {
  return typeof value === 'object' && value !== null && 'closed' in value;
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

  open(request: ITensorBoardOpenRequest): Promise<ITensorBoardSession> {
    return requestAPI(
      'tensorboard/open',
      isTensorBoardSession,
      { method: 'POST', body: request },
      this.settings
    );
  }

  async close(request: ITensorBoardCloseRequest): Promise<void> {
    await requestAPI(
      'tensorboard/close',
      isClosed,
      { method: 'POST', body: request },
      this.settings
    );
  }

  runs(notebook: string): Promise<ITensorBoardRunsResponse> {
    return requestAPI(
      `tensorboard/runs?notebook=${encodeURIComponent(notebook)}`,
      isTensorBoardRunsResponse,
      {},
      this.settings
    );
  }
}
