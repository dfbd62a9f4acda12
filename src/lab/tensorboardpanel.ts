/**
 * The TensorBoard panel's content: asks the backend for a TensorBoard on the chosen runs, shows
 * progress while it starts, then TensorBoard itself in an iframe on the proxied URL (local: below
 * the Jupyter server, behind its authentication; cluster: Kubeflow's `/tensorboard/<ns>/<name>/`).
 * Failures are shown in the panel with what to do. Closing the panel releases the TensorBoard.
 */
import type { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { nullTranslator } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { ITensorBoardOpenRequest, ITensorBoardSession } from '../core/tensorboard.js';
import { ChardRequestError } from './request.js';
import type { TensorBoardApi } from './tensorboardapi.js';

export namespace TensorBoardView {
  export interface IOptions {
    api: TensorBoardApi;
    request: ITensorBoardOpenRequest;
    translator?: ITranslator;
    /** Whether JupyterLab's theme is light (TensorBoard is shown in the same colours). */
    isLight?: () => boolean;
  }
  export type State = 'starting' | 'ready' | 'failed';
}

export class TensorBoardView extends Widget {
  constructor(options: TensorBoardView.IOptions) {
    super();
    this.addClass('jp-chard-TensorBoard');
    this._api = options.api;
    this._request = options.request;
    this._isLight = options.isLight ?? (() => true);
    this._trans = (options.translator ?? nullTranslator).load('jupyterlab-chard');
    this._status = document.createElement('div');
    this._status.className = 'jp-chard-TensorBoard-status';
    this.node.appendChild(this._status);
    void this.start();
  }

  /** What this panel shows (for the layout restorer). */
  get request(): ITensorBoardOpenRequest {
    return this._request;
  }

  get state(): TensorBoardView.State {
    return this._state;
  }

  get session(): ITensorBoardSession | null {
    return this._session;
  }

  /** (Re)open TensorBoard for `request` (default: the current one). */
  async start(request: ITensorBoardOpenRequest = this._request): Promise<void> {
    await this._release();
    this._request = request;
    this._setState('starting');
    this._showMessage(
      request.target === 'cluster'
        ? this._trans.__('Creating a Kubeflow Tensorboard and waiting until it serves…')
        : this._trans.__('Starting TensorBoard on the run logs…')
    );
    try {
      const session = await this._api.open(request);
      if (this.isDisposed) {
        await this._api.close({ id: session.id, target: session.target });
        return;
      }
      this._session = session;
      this._showFrame(session);
      this._setState('ready');
    } catch (error) {
      if (this.isDisposed) {
        return;
      }
      this._showError(error);
      this._setState('failed');
    }
  }

  /** Reload TensorBoard's page (same TensorBoard), e.g. after JupyterLab's theme changed. */
  reload(): void {
    if (this._frame && this._session) {
      Private.setTensorBoardSettings(this._isLight(), this._isNarrow());
      this._frame.src = this._api.urlOf(this._session);
    } else {
      void this.start();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    void this._release();
    super.dispose();
  }

  private async _release(): Promise<void> {
    const session = this._session;
    this._session = null;
    this._frame?.remove();
    this._frame = null;
    if (session) {
      try {
        await this._api.close({ id: session.id, target: session.target });
      } catch {
        // The backend stops it anyway after its idle timeout.
      }
    }
  }

  private _setState(state: TensorBoardView.State): void {
    this._state = state;
    this.node.dataset.state = state;
  }

  private _showMessage(text: string): void {
    this._status.replaceChildren();
    this._status.hidden = false;
    const p = document.createElement('p');
    p.className = 'jp-chard-TensorBoard-message';
    p.textContent = text;
    this._status.appendChild(p);
  }

  private _showFrame(session: ITensorBoardSession): void {
    this._status.hidden = true;
    const frame = document.createElement('iframe');
    frame.className = 'jp-chard-TensorBoard-frame';
    frame.title = this._trans.__('TensorBoard');
    Private.setTensorBoardSettings(this._isLight(), this._isNarrow());
    frame.src = this._api.urlOf(session);
    this._frame = frame;
    this.node.appendChild(frame);
  }

  /**
   * Too narrow for TensorBoard's settings pane beside its charts (the pane would cover them).
   * A panel not laid out yet (width 0) is not narrow.
   */
  private _isNarrow(): boolean {
    const width = this.node.clientWidth;
    return width > 0 && width < Private.NARROW_PX;
  }

  private _showError(error: unknown): void {
    const code = error instanceof ChardRequestError ? error.code : null;
    const message = error instanceof Error ? error.message : String(error);
    this._status.replaceChildren();
    this._status.hidden = false;
    const box = document.createElement('div');
    box.className = 'jp-chard-TensorBoard-error';
    const title = document.createElement('h3');
    title.textContent =
      code === 'tensorboard-not-installed'
        ? this._trans.__('TensorBoard is not installed')
        : code === 'tensorboard-not-in-cluster'
          ? this._trans.__('This cluster cannot run TensorBoard')
          : code === 'no-logs'
            ? this._trans.__('No TensorBoard logs in these runs')
            : code === 'logs-unreachable'
              ? this._trans.__("The run's logs are not on this machine")
              : this._trans.__('TensorBoard could not be opened');
    box.appendChild(title);
    const text = document.createElement('p');
    text.textContent = message;
    box.appendChild(text);
    const install = /`([^`]*pip install tensorboard)`/.exec(message);
    if (install) {
      const cmd = document.createElement('pre');
      cmd.className = 'jp-chard-TensorBoard-command';
      cmd.textContent = install[1];
      box.appendChild(cmd);
    }
    const actions = document.createElement('div');
    actions.className = 'jp-chard-TensorBoard-actions';
    if (code === 'tensorboard-not-in-cluster') {
      actions.appendChild(
        this._button(this._trans.__('Open the run logs on this machine'), () =>
          this.start({ ...this._request, target: 'local', claim: undefined, path: undefined })
        )
      );
    }
    actions.appendChild(this._button(this._trans.__('Try again'), () => this.start()));
    box.appendChild(actions);
    this._status.appendChild(box);
  }

  private _button(label: string, onClick: () => Promise<void> | void): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = 'jp-mod-styled jp-mod-accept';
    button.textContent = label;
    button.addEventListener('click', () => void onClick());
    return button;
  }

  private readonly _api: TensorBoardApi;
  private readonly _isLight: () => boolean;
  private readonly _trans: TranslationBundle;
  private readonly _status: HTMLDivElement;
  private _request: ITensorBoardOpenRequest;
  private _state: TensorBoardView.State = 'starting';
  private _session: ITensorBoardSession | null = null;
  private _frame: HTMLIFrameElement | null = null;
}

namespace Private {
  /** TensorBoard's own settings key in the browser's storage (its frontend reads `theme`). */
  const SETTINGS_KEY = '_tb_global_settings';

  /** Narrower than this (px), TensorBoard opens with its settings pane closed. */
  export const NARROW_PX = 960;

  /**
   * Show TensorBoard in JupyterLab's light or dark colours and, in a narrow panel, with the
   * settings pane of its time-series dashboard closed (its button opens it): TensorBoard keeps
   * these in the origin's local storage, which it shares with JupyterLab (it is served below the
   * same origin), and reads them when its page loads.
   */
  export function setTensorBoardSettings(light: boolean, narrow: boolean): void {
    try {
      const storage = globalThis.localStorage;
      const parsed: unknown = JSON.parse(storage.getItem(SETTINGS_KEY) ?? '{}');
      const settings =
        typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : {};
      storage.setItem(
        SETTINGS_KEY,
        JSON.stringify({
          ...settings,
          theme: light ? 'light' : 'dark',
          ...(narrow ? { timeSeriesSettingsPaneOpened: false } : {})
        })
      );
    } catch {
      // No storage (private mode) or a damaged entry: TensorBoard follows the browser's theme.
    }
  }
}
