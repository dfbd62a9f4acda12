/**
 * The step editor's form (the body of a JupyterLab dialog): the cells' role, the step name
 * (completing the existing names, validated as it is typed, with the name Kubernetes and the
 * run records will use), its explicit parents (`prev:`) apart from the parents the data flow
 * gives it, GPU/CPU/memory limits, image and cache.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import { dnsLabel } from '../core/names.js';
import { parseCellTags, stepNameProblem } from '../core/tags.js';
import type { EditorRole, ICellsEdit, IResourceEdit } from './stepedit.js';

/** What the form starts from. */
export interface IStepFormState {
  role: EditorRole;
  /** The tags of the first edited cell (limits, image, cache, prev are read from them). */
  tags: readonly string[];
  /** Step names of the plan, for completion and the parent picker. */
  steps: readonly string[];
  /** Parents of the step the data flow gives it (not from `prev:`), with what they pass. */
  inferred: ReadonlyMap<string, readonly string[]>;
  /** The pipeline's default image, shown as the image field's placeholder. */
  defaultImage?: string;
  /** The name proposed for a new step. */
  suggestedName: string;
}

type RoleKey = 'step' | Exclude<EditorRole, object>;

const LIMIT_KEYS = { gpu: 'nvidia.com/gpu', cpu: 'cpu', memory: 'memory' } as const;
const LIMIT_VALUE = /^[_a-zA-Z0-9.]+$/;
const KALE_NAME = /^[_a-z][_a-z0-9]*$/;

/** A name Kale also accepts, close to `name`: lowercase, other characters as `_`. */
export function kaleName(name: string): string {
  const s = name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[0-9]/.test(s) ? `step_${s}` : s || 'step';
}

/** What the name field says about a name: a problem (blocks OK) or the names it will be used as. */
export function nameFeedback(
  name: string,
  trans: TranslationBundle
): { problem: string | null; note: string } {
  const trimmed = name.trim();
  const problem = stepNameProblem(trimmed);
  if (problem) {
    return {
      problem: trans.__('%1.', problem.charAt(0).toUpperCase() + problem.slice(1)),
      note: ''
    };
  }
  let note = trans.__(
    'Tag: step:%1 · runs as "%2" (pods, run records)',
    trimmed,
    dnsLabel(trimmed)
  );
  if (!KALE_NAME.test(trimmed)) {
    note += ` · ${trans.__('Kale accepts only a-z, 0-9 and _: use "%1" to keep the notebook Kale-compatible.', kaleName(trimmed))}`;
  }
  return { problem: null, note };
}

export class StepForm extends Widget {
  constructor(state: IStepFormState, trans: TranslationBundle) {
    super();
    this.addClass('jp-chard-StepForm');
    this._trans = trans;
    const parsed = parseCellTags(state.tags);
    const role: RoleKey = typeof state.role === 'object' ? 'step' : state.role;
    const name =
      typeof state.role === 'object' && state.role.step ? state.role.step : state.suggestedName;

    this._role = this._select(
      [
        ['step', trans.__('Step')],
        ['imports', trans.__('Imports (before every step)')],
        ['functions', trans.__('Functions (before every step)')],
        ['pipeline-parameters', trans.__('Pipeline parameters')],
        ['pipeline-metrics', trans.__('Pipeline metrics')],
        ['skip', trans.__('Skip (left out)')],
        ['continue', trans.__('No tag (joins the step above)')]
      ],
      role
    );
    this._role.classList.add('jp-chard-StepForm-role');
    this._role.addEventListener('change', () => this._update());

    this._name.className = 'jp-mod-styled jp-chard-StepForm-name';
    this._name.value = name;
    this._name.spellcheck = false;
    const listId = `jp-chard-step-names-${Private.nextId()}`;
    this._name.setAttribute('list', listId);
    const datalist = document.createElement('datalist');
    datalist.id = listId;
    for (const s of state.steps) {
      const option = document.createElement('option');
      option.value = s;
      datalist.append(option);
    }
    this._name.addEventListener('input', () => this._update());
    this._feedback.className = 'jp-chard-StepForm-feedback';
    this._feedback.setAttribute('aria-live', 'polite');

    // Parents: the explicit ones (prev:) are editable; the inferred ones are shown apart.
    const parents = document.createElement('fieldset');
    parents.className = 'jp-chard-StepForm-parents';
    const legend = document.createElement('legend');
    legend.textContent = trans.__('Depends on (prev:)');
    parents.append(legend);
    const others = state.steps.filter(s => s !== name);
    for (const s of others) {
      const label = document.createElement('label');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = s;
      box.checked = parsed.prev.includes(s);
      this._prev.push(box);
      label.append(box, document.createTextNode(` ${s}`));
      const carried = state.inferred.get(s);
      if (carried) {
        const note = document.createElement('span');
        note.className = 'jp-chard-StepForm-inferred';
        note.textContent = carried.length
          ? trans.__('inferred: passes %1', carried.join(', '))
          : trans.__('inferred');
        label.append(document.createTextNode(' '), note);
      }
      parents.append(label);
    }
    // prev: naming steps not in the plan (yet) are kept as they are.
    this._unknownPrev = parsed.prev.filter(p => !others.includes(p));
    if (others.length === 0) {
      const none = document.createElement('span');
      none.className = 'jp-chard-None';
      none.textContent = trans.__('No other step yet.');
      parents.append(none);
    }

    const limits = parsed.limits;
    this._gpu = this._text(limits[LIMIT_KEYS.gpu] ?? '', trans.__('e.g. 1'));
    this._cpu = this._text(limits[LIMIT_KEYS.cpu] ?? '', trans.__('e.g. 2 or 500m'));
    this._memory = this._text(limits[LIMIT_KEYS.memory] ?? '', trans.__('e.g. 4Gi'));
    this._image = this._text(
      parsed.image ?? '',
      state.defaultImage ?? trans.__('the pipeline image')
    );
    this._cache = this._select(
      [
        ['', trans.__('Target default')],
        ['enabled', trans.__('Enabled')],
        ['disabled', trans.__('Disabled')]
      ],
      parsed.cache === undefined ? '' : parsed.cache ? 'enabled' : 'disabled'
    );

    const grid = document.createElement('div');
    grid.className = 'jp-chard-StepForm-grid';
    const row = (label: string, field: HTMLElement, ...extra: HTMLElement[]): void => {
      const l = document.createElement('label');
      l.textContent = label;
      const id = `jp-chard-step-field-${Private.nextId()}`;
      field.id = id;
      l.htmlFor = id;
      const cell = document.createElement('div');
      cell.append(field, ...extra);
      grid.append(l, cell);
    };
    row(trans.__('Cells are'), this._role);
    row(trans.__('Step name'), this._name, datalist, this._feedback);
    this._stepOnly.className = 'jp-chard-StepForm-step';
    const resources = document.createElement('div');
    resources.className = 'jp-chard-StepForm-grid';
    const resRow = (label: string, field: HTMLElement): void => {
      const l = document.createElement('label');
      l.textContent = label;
      const id = `jp-chard-step-field-${Private.nextId()}`;
      field.id = id;
      l.htmlFor = id;
      resources.append(l, field);
    };
    resRow(trans.__('GPUs'), this._gpu);
    resRow(trans.__('CPU'), this._cpu);
    resRow(trans.__('Memory'), this._memory);
    resRow(trans.__('Image'), this._image);
    resRow(trans.__('Cache'), this._cache);
    this._stepOnly.append(parents, resources);
    this.node.append(grid, this._stepOnly);
    this._update();
  }

  /** The first problem of the form, or null when OK may apply it. */
  get problem(): string | null {
    return this._problem;
  }

  /** Called with the problem (or null) after every change: the dialog disables OK. */
  onValidity: ((problem: string | null) => void) | null = null;

  /** The edit the form describes (check `problem` first). */
  getValue(): ICellsEdit {
    const key = this._role.value as RoleKey;
    if (key !== 'step') {
      return { role: key };
    }
    const prev = [...this._prev.filter(b => b.checked).map(b => b.value), ...this._unknownPrev];
    const text = (input: HTMLInputElement): string | null => input.value.trim() || null;
    const resources: IResourceEdit = {
      limits: {
        [LIMIT_KEYS.gpu]: text(this._gpu),
        [LIMIT_KEYS.cpu]: text(this._cpu),
        [LIMIT_KEYS.memory]: text(this._memory)
      },
      image: text(this._image),
      cache: this._cache.value === '' ? null : this._cache.value === 'enabled'
    };
    return { role: { step: this._name.value.trim() }, prev, resources };
  }

  protected onAfterAttach(): void {
    this._update();
    if (!this._name.disabled) {
      this._name.focus();
      this._name.select();
    }
  }

  private _update(): void {
    const isStep = this._role.value === 'step';
    this._name.disabled = !isStep;
    this._stepOnly.hidden = !isStep;
    let problem: string | null = null;
    if (isStep) {
      const feedback = nameFeedback(this._name.value, this._trans);
      problem = feedback.problem;
      this._feedback.textContent = feedback.problem ?? feedback.note;
      this._feedback.classList.toggle('jp-mod-error', feedback.problem !== null);
      for (const [input, label] of [
        [this._gpu, this._trans.__('GPUs')],
        [this._cpu, this._trans.__('CPU')],
        [this._memory, this._trans.__('Memory')]
      ] as const) {
        const v = input.value.trim();
        if (!problem && v && !LIMIT_VALUE.test(v)) {
          problem = this._trans.__(
            '%1: use letters, digits and . only (e.g. 2, 500m, 4Gi).',
            label
          );
        }
      }
      if (!problem && /\s/.test(this._image.value.trim())) {
        problem = this._trans.__('Image: no spaces.');
      }
      if (problem && !feedback.problem) {
        this._feedback.textContent = problem;
        this._feedback.classList.add('jp-mod-error');
      }
    } else {
      this._feedback.textContent = '';
    }
    this._problem = problem;
    this.onValidity?.(problem);
  }

  private _text(value: string, placeholder: string): HTMLInputElement {
    const input = document.createElement('input');
    input.className = 'jp-mod-styled';
    input.value = value;
    input.placeholder = placeholder;
    input.spellcheck = false;
    input.addEventListener('input', () => this._update());
    return input;
  }

  private _select(options: [string, string][], value: string): HTMLSelectElement {
    const select = document.createElement('select');
    select.className = 'jp-mod-styled';
    for (const [v, label] of options) {
      const option = document.createElement('option');
      option.value = v;
      option.textContent = label;
      select.append(option);
    }
    select.value = value;
    return select;
  }

  private readonly _trans: TranslationBundle;
  private readonly _role: HTMLSelectElement;
  private readonly _name = document.createElement('input');
  private readonly _feedback = document.createElement('div');
  private readonly _stepOnly = document.createElement('div');
  private readonly _prev: HTMLInputElement[] = [];
  private readonly _unknownPrev: string[];
  private readonly _gpu: HTMLInputElement;
  private readonly _cpu: HTMLInputElement;
  private readonly _memory: HTMLInputElement;
  private readonly _image: HTMLInputElement;
  private readonly _cache: HTMLSelectElement;
  private _problem: string | null = null;
}

namespace Private {
  let count = 0;

  /** A number unique in the page, for element ids. */
  export function nextId(): number {
    return ++count;
  }
}
