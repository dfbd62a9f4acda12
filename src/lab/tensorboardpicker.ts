/**
 * The run picker of "Open TensorBoard": the notebook's runs (latest first; those whose steps
 * wrote event files are checked), several at once to compare them, and another log directory.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { ITensorBoardRunChoice } from '../core/tensorboard.js';

export interface ITensorBoardPick {
  runs: string[];
  /** Another log directory, relative to the Jupyter root ('' for none). */
  logdir: string;
}

export class TensorBoardPicker extends Widget {
  constructor(runs: readonly ITensorBoardRunChoice[], trans: TranslationBundle) {
    super();
    this.addClass('jp-chard-TensorBoardPicker');
    const withLogs = runs.filter(r => r.logdirs.length > 0);
    if (runs.length === 0) {
      const none = document.createElement('p');
      none.textContent = trans.__('This notebook has no runs yet.');
      this.node.appendChild(none);
    }
    runs.forEach(run => {
      const label = document.createElement('label');
      label.className = 'jp-chard-TensorBoardPicker-run';
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = run.id;
      box.checked = run === withLogs[0];
      box.disabled = run.logdirs.length === 0;
      this._boxes.push(box);
      const name = document.createElement('span');
      name.textContent = run.id;
      const detail = document.createElement('span');
      detail.className = 'jp-chard-TensorBoardPicker-detail';
      detail.textContent =
        run.logdirs.length > 0
          ? trans.__('%1, %2: %3', run.backend, run.status, run.logdirs.join(', '))
          : trans.__('%1, %2: no event files', run.backend, run.status);
      label.append(box, name, detail);
      this.node.appendChild(label);
    });
    const other = document.createElement('label');
    other.textContent = trans.__('Or another log directory (from the Jupyter root):');
    this._logdir = document.createElement('input');
    this._logdir.type = 'text';
    this._logdir.placeholder = 'logs/';
    other.appendChild(this._logdir);
    this.node.appendChild(other);
  }

  getValue(): ITensorBoardPick {
    return {
      runs: this._boxes.filter(b => b.checked).map(b => b.value),
      logdir: this._logdir.value.trim()
    };
  }

  private readonly _boxes: HTMLInputElement[] = [];
  private readonly _logdir: HTMLInputElement;
}
