/**
 * What a step showed, under its log in the run monitor: the figures, `display()` calls and cell
 * values the step runtime kept as MIME bundles (GET runs/{id}/steps/{step}/outputs), each drawn
 * by JupyterLab's own renderer for its richest MIME type (IRenderMimeRegistry), untrusted as in a
 * notebook nobody trusted: HTML sanitized, no scripts. Reloaded when the step ends.
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import type { TranslationBundle } from '@jupyterlab/translation';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Widget } from '@lumino/widgets';
import type { IRichOutput, IStepOutputs } from '../core/richoutputs.js';
import type { RunEvent } from '../core/runs.js';

/** The part of the run client the view uses. */
export interface IStepOutputsSource {
  stepOutputs(id: string, step: string): Promise<IStepOutputs>;
}

export class StepOutputs extends Widget {
  constructor(options: StepOutputs.IOptions) {
    super();
    this.addClass('jp-chard-StepOutputs');
    this._source = options.source;
    this._rendermime = options.rendermime;
    this._trans = options.trans;
    this._title.className = 'jp-chard-StepOutputs-title';
    this._note.className = 'jp-chard-StepOutputs-note';
    this._list.className = 'jp-chard-StepOutputs-list';
    this.node.append(this._title, this._note, this._list);
    this.node.hidden = true;
  }

  /**
   * The step shown: `run`'s step `step` (null: none). `readable`: false for a run whose steps'
   * outputs Chard cannot read (KFP keeps them in its own UI).
   */
  async showStep(run: string | null, step: string | null, readable = true): Promise<void> {
    this._run = run;
    this._step = step;
    this._readable = readable;
    await this.reload();
  }

  /** A run event: what the step shown showed is read again as it shows more, and once it ended. */
  onEvent(event: RunEvent): void {
    if (
      (event.event === 'step-outputs' || event.event === 'step-finished') &&
      event.run === this._run &&
      event.step === this._step
    ) {
      void this.reload();
    }
  }

  /** Read and draw the step's outputs (a newer call wins over one still loading). */
  async reload(): Promise<void> {
    const ticket = ++this._ticket;
    const { _run: run, _step: step } = this;
    if (run === null || step === null || !this._readable) {
      this._draw(null);
      return;
    }
    let shown: IStepOutputs | null = null;
    let error: unknown = null;
    try {
      shown = await this._source.stepOutputs(run, step);
    } catch (e) {
      error = e;
    }
    if (ticket !== this._ticket || this.isDisposed) {
      return;
    }
    this._draw(shown, error);
  }

  /** How many outputs are drawn. */
  get count(): number {
    return this._renderers.length;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._clear();
    super.dispose();
  }

  private _draw(shown: IStepOutputs | null, error: unknown = null): void {
    const t = this._trans;
    this._clear();
    this._note.textContent = '';
    if (error !== null) {
      this.node.hidden = false;
      this._title.textContent = t.__('Outputs of %1', this._step ?? '');
      this._note.textContent = t.__(
        'Cannot show what the step showed: %1',
        error instanceof Error ? error.message : String(error)
      );
      return;
    }
    const outputs = shown?.outputs ?? [];
    const truncated = shown?.truncated ?? null;
    this.node.hidden = outputs.length === 0 && truncated === null;
    this._title.textContent = t.__('Outputs of %1', shown?.step ?? '');
    let cell: number | null | undefined;
    for (const output of outputs) {
      if (output.cell !== cell) {
        cell = output.cell;
        if (cell !== null) {
          const label = document.createElement('div');
          label.className = 'jp-chard-StepOutputs-cell';
          label.textContent = t.__('Cell %1', cell + 1);
          this._list.append(label);
        }
      }
      this._append(output);
    }
    if (truncated) {
      this._note.textContent = t.__(
        '%1 more outputs (%2) were not kept: a step keeps at most %3 outputs and %4 of them.',
        truncated.outputs,
        Private.size(truncated.bytes),
        truncated.maxOutputs,
        Private.size(truncated.maxBytes)
      );
    }
  }

  /** One output, by the renderer of its richest MIME type that is safe untrusted. */
  private _append(output: IRichOutput): void {
    const data = output.data as ReadonlyPartialJSONObject;
    const mime = this._rendermime.preferredMimeType(data, 'ensure');
    if (mime === undefined) {
      return;
    }
    const holder = document.createElement('div');
    holder.className = 'jp-chard-StepOutputs-output jp-OutputArea-output';
    holder.dataset.mimeType = mime;
    const renderer = this._rendermime.createRenderer(mime);
    const model = this._rendermime.createModel({
      data,
      metadata: output.metadata as ReadonlyPartialJSONObject,
      trusted: false
    });
    this._renderers.push(renderer);
    void renderer.renderModel(model).catch((error: unknown) => {
      holder.textContent = this._trans.__(
        'Cannot draw this output (%1): %2',
        mime,
        error instanceof Error ? error.message : String(error)
      );
    });
    holder.append(renderer.node);
    this._list.append(holder);
  }

  private _clear(): void {
    for (const renderer of this._renderers) {
      renderer.dispose();
    }
    this._renderers = [];
    this._list.replaceChildren();
  }

  private readonly _source: IStepOutputsSource;
  private readonly _rendermime: IRenderMimeRegistry;
  private readonly _trans: TranslationBundle;
  private readonly _title = document.createElement('h3');
  private readonly _note = document.createElement('div');
  private readonly _list = document.createElement('div');
  private _renderers: IRenderMime.IRenderer[] = [];
  private _run: string | null = null;
  private _step: string | null = null;
  private _readable = true;
  private _ticket = 0;
}

export namespace StepOutputs {
  export interface IOptions {
    source: IStepOutputsSource;
    rendermime: IRenderMimeRegistry;
    trans: TranslationBundle;
  }
}

namespace Private {
  export function size(bytes: number): string {
    return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.ceil(bytes / 1e3)} kB`;
  }
}
