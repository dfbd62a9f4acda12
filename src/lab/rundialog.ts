/**
 * The body of the "Run with…" dialog: where the pipeline runs (this machine, Argo on a cluster,
 * Kubeflow Pipelines), the fields of that target, and the pipeline parameters' values for this
 * run, typed as the notebook declares them. Says which content runs (the saved file) and whether
 * the notebook has unsaved changes.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { RunTarget } from '../core/api.js';
import type { IParameter, ParameterValue } from '../core/plan.js';
import { parseParameter } from './runtarget.js';
import type { IRunChoice } from './runtarget.js';

export class RunDialogBody extends Widget {
  constructor(options: RunDialogBody.IOptions) {
    super();
    this.addClass('jp-chard-RunDialog');
    const { trans } = options;
    this._trans = trans;
    this._parameters = options.parameters;
    const form = document.createElement('div');
    form.className = 'jp-chard-RunDialog-form';

    const what = document.createElement('p');
    what.className = 'jp-chard-RunDialog-what';
    what.textContent = trans.__('Runs the saved file %1.', options.path);
    form.append(what);
    if (options.dirty) {
      const dirty = document.createElement('p');
      dirty.className = 'jp-chard-RunDialog-dirty';
      dirty.textContent = trans.__(
        'The notebook has unsaved changes: they are not part of this run unless you save first.'
      );
      form.append(dirty);
    }

    this._target = this._select(
      form,
      trans.__('Run on'),
      [
        ['local', trans.__('This machine')],
        ['argo', trans.__('Argo Workflows on a cluster')],
        ['kfp', trans.__('Kubeflow Pipelines')]
      ],
      options.choice.target
    );
    this._argo = document.createElement('fieldset');
    this._argo.className = 'jp-chard-RunDialog-group';
    this._context = this._input(this._argo, trans.__('Kubernetes context'), options.choice.context);
    this._namespace = this._input(this._argo, trans.__('Namespace'), options.choice.namespace);
    this._image = this._input(this._argo, trans.__('Image'), options.choice.image);
    this._volumes = this._input(
      this._argo,
      trans.__('Workspace volumes (NAME[:PATH], comma-separated; empty: the notebook server’s)'),
      options.choice.volumes.join(', ')
    );
    this._snapshot = document.createElement('input');
    this._snapshot.type = 'checkbox';
    this._snapshot.checked = options.choice.snapshot;
    const snapLabel = document.createElement('label');
    snapLabel.className = 'jp-chard-RunDialog-check';
    snapLabel.append(this._snapshot, ' ', trans.__('Snapshot the workspace volumes'));
    this._argo.append(snapLabel);
    form.append(this._argo);

    this._kfp = document.createElement('fieldset');
    this._kfp.className = 'jp-chard-RunDialog-group';
    this._endpoint = this._input(this._kfp, trans.__('KFP endpoint'), options.choice.endpoint);
    this._experiment = this._input(this._kfp, trans.__('Experiment'), options.choice.experiment);
    form.append(this._kfp);

    if (this._parameters.length > 0) {
      const params = document.createElement('fieldset');
      params.className = 'jp-chard-RunDialog-group';
      const legend = document.createElement('legend');
      legend.textContent = trans.__('Pipeline parameters for this run');
      params.append(legend);
      for (const p of this._parameters) {
        const given = options.choice.parameters[p.name];
        const value = String(given ?? p.value);
        if (p.type === 'bool') {
          this._params.set(
            p.name,
            this._select(
              params,
              `${p.name} (${p.type})`,
              [
                ['true', 'True'],
                ['false', 'False']
              ],
              value
            )
          );
        } else {
          const input = this._input(params, `${p.name} (${p.type})`, value);
          if (p.type === 'int' || p.type === 'float') {
            input.type = 'number';
            input.step = p.type === 'int' ? '1' : 'any';
          }
          this._params.set(p.name, input);
        }
      }
      form.append(params);
    }
    this._error.className = 'jp-chard-RunDialog-error';
    form.append(this._error);
    this.node.append(form);
    this._target.addEventListener('change', () => this._showGroups());
    this._showGroups();
  }

  /** The choice, or null (with the reason shown) when a parameter does not parse. */
  getValue(): IRunChoice {
    const parameters: Record<string, ParameterValue> = {};
    const bad: string[] = [];
    for (const p of this._parameters) {
      const text = this._params.get(p.name)?.value ?? '';
      const value = parseParameter(p.type, text);
      if (value === null) {
        bad.push(p.name);
      } else if (value !== p.value) {
        parameters[p.name] = value;
      }
    }
    if (bad.length > 0) {
      throw new Error(this._trans.__('Not a value of its type: %1', bad.join(', ')));
    }
    return {
      target: this._target.value as RunTarget,
      context: this._context.value,
      namespace: this._namespace.value,
      image: this._image.value,
      volumes: this._volumes.value
        .split(',')
        .map(v => v.trim())
        .filter(v => v),
      snapshot: this._snapshot.checked,
      endpoint: this._endpoint.value,
      experiment: this._experiment.value,
      parameters
    };
  }

  private _showGroups(): void {
    this._argo.hidden = this._target.value !== 'argo';
    this._kfp.hidden = this._target.value !== 'kfp';
  }

  private _input(parent: HTMLElement, label: string, value: string): HTMLInputElement {
    const input = document.createElement('input');
    input.className = 'jp-mod-styled';
    input.value = value;
    parent.append(this._label(label, input));
    return input;
  }

  private _select(
    parent: HTMLElement,
    label: string,
    options: [string, string][],
    value: string
  ): HTMLSelectElement {
    const select = document.createElement('select');
    select.className = 'jp-mod-styled';
    for (const [v, text] of options) {
      const option = document.createElement('option');
      option.value = v;
      option.textContent = text;
      select.append(option);
    }
    select.value = value;
    parent.append(this._label(label, select));
    return select;
  }

  private _label(text: string, control: HTMLElement): HTMLLabelElement {
    const label = document.createElement('label');
    label.className = 'jp-chard-RunDialog-field';
    const span = document.createElement('span');
    span.textContent = text;
    label.append(span, control);
    return label;
  }

  private readonly _trans: TranslationBundle;
  private readonly _parameters: readonly IParameter[];
  private readonly _params = new Map<string, HTMLInputElement | HTMLSelectElement>();
  private readonly _target: HTMLSelectElement;
  private readonly _argo: HTMLFieldSetElement;
  private readonly _kfp: HTMLFieldSetElement;
  private readonly _context: HTMLInputElement;
  private readonly _namespace: HTMLInputElement;
  private readonly _image: HTMLInputElement;
  private readonly _volumes: HTMLInputElement;
  private readonly _snapshot: HTMLInputElement;
  private readonly _endpoint: HTMLInputElement;
  private readonly _experiment: HTMLInputElement;
  private readonly _error = document.createElement('p');
}

export namespace RunDialogBody {
  export interface IOptions {
    trans: TranslationBundle;
    /** The notebook's path (relative to the Jupyter root). */
    path: string;
    dirty: boolean;
    choice: IRunChoice;
    parameters: readonly IParameter[];
  }
}
