/**
 * `jupyterlab-chard:backend`: the state of Chard's backend (the Node process the server extension
 * supervises), from `GET /chard/api/health`. Checked often while it is not ready, rarely once
 * it is (a @lumino/polling Poll: it backs off, and pauses while the page is hidden).
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Poll } from '@lumino/polling';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';
import { isHealthResponse } from '../core/httpapi.js';
import { ChardRequestError, requestAPI } from './request.js';
import { IChardBackend } from './tokens.js';
import type { BackendStatus, IBackendStatus } from './tokens.js';

/** Seconds between checks while the backend is ready, and while it is not. */
const READY_INTERVAL = 30;
const NOT_READY_INTERVAL = 1;

export class BackendMonitor implements IChardBackend {
  constructor(check: () => Promise<IBackendStatus> = BackendMonitor.checkHealth) {
    this._check = check;
    this._poll = new Poll({
      factory: () => this._tick(),
      frequency: {
        interval: NOT_READY_INTERVAL * 1000,
        backoff: false,
        max: READY_INTERVAL * 1000
      },
      standby: 'when-hidden',
      name: 'jupyterlab-chard:backend'
    });
  }

  get status(): IBackendStatus {
    return this._status;
  }

  get statusChanged(): ISignal<this, IBackendStatus> {
    return this._statusChanged;
  }

  /** Check now (e.g. after a request failed). */
  async refresh(): Promise<void> {
    await this._poll.refresh();
    await this._poll.tick;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    Signal.clearData(this);
    // Stopping clears the poll's pending timer (disposing alone leaves it to fire).
    void this._poll.stop().finally(() => this._poll.dispose());
  }

  private async _tick(): Promise<void> {
    const status = await this._check();
    if (this._isDisposed) {
      return;
    }
    const interval = (status.state === 'ready' ? READY_INTERVAL : NOT_READY_INTERVAL) * 1000;
    if (this._poll.frequency.interval !== interval) {
      this._poll.frequency = { ...this._poll.frequency, interval };
    }
    if (status.state !== this._status.state || status.message !== this._status.message) {
      this._status = status;
      this._statusChanged.emit(status);
    }
  }

  private readonly _check: () => Promise<IBackendStatus>;
  private readonly _poll: Poll;
  private _status: IBackendStatus = { state: 'unknown', message: '' };
  private _isDisposed = false;
  private readonly _statusChanged = new Signal<this, IBackendStatus>(this);
}

export namespace BackendMonitor {
  /** One health check, as a status (never throws). */
  export async function checkHealth(): Promise<IBackendStatus> {
    try {
      const health = await requestAPI('health', isHealthResponse);
      return { state: health.state, message: '', version: health.version };
    } catch (error) {
      if (!(error instanceof ChardRequestError)) {
        return { state: 'unreachable', message: String(error) };
      }
      return { state: stateOf(error), message: error.message };
    }
  }

  function stateOf(error: ChardRequestError): BackendStatus {
    switch (error.code) {
      case 'backend-starting':
        return 'starting';
      case 'backend-restarting':
        return 'restarting';
      case 'backend-down':
        return 'down';
    }
    return error.failure === 'not-installed' ? 'not-installed' : 'unreachable';
  }
}

export const backendPlugin: JupyterFrontEndPlugin<IChardBackend> = {
  id: 'jupyterlab-chard:backend',
  description: "The state of Chard's backend on the Jupyter server, from its health endpoint.",
  autoStart: true,
  provides: IChardBackend,
  activate: (_app: JupyterFrontEnd): IChardBackend => new BackendMonitor()
};
