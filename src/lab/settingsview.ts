/**
 * The pipeline's settings in the sidebar: name, description, experiment, image, workspace
 * volumes and snapshot. A committed change (a field left, Enter, a box ticked) is written at
 * once through the notebook model (`settingsedit.ts`: Kale's keys and Chard's typed ones), as
 * one undoable transaction. When the image is a bare Python image and the imports cells need
 * numpy, pandas, scikit-learn..., a line says so.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { IPlan } from '../core/plan.js';
import { missingPackages, pipelineForm, writePipelineForm } from './settingsedit.js';
import type { IMetadataModel, IPipelineForm, IVolumeRow } from './settingsedit.js';

/** The notebook model the settings are written to (`INotebookModel` satisfies it). */
export interface ISettingsModel extends IMetadataModel {
  readonly sharedModel: { transact(f: () => void): void };
}

export class PipelineSettingsView extends Widget {
  constructor(trans: TranslationBundle) {
    super();
    this._trans = trans;
    this.addClass('jp-chard-Settings');
    this.node.addEventListener('change', this);
    this.node.addEventListener('click', this);
  }

  /** Show the settings of `plan`, written to `model` (null: nothing to edit). */
  setSource(plan: IPlan | null, model: ISettingsModel | null): void {
    this._plan = plan;
    this._model = model;
    // Keep what the user is typing: redraw only when no field has the focus.
    if (this.node.contains(document.activeElement)) {
      this._advice();
      return;
    }
    this._render();
  }

  handleEvent(event: Event): void {
    const target = event.target as HTMLElement;
    if (event.type === 'change') {
      this._commit();
    } else if (event.type === 'click' && target.closest('.jp-chard-Settings-addVolume')) {
      this._form?.volumes.push({ type: 'pvc', name: '', mountPoint: '', size: '' });
      this._render();
    } else if (event.type === 'click' && target.closest('.jp-chard-Settings-removeVolume')) {
      const index = Number(target.closest<HTMLElement>('[data-volume]')?.dataset.volume);
      if (this._form && index >= 0) {
        this._form.volumes.splice(index, 1);
        this._commit(false);
        this._render();
      }
    }
  }

  private _render(): void {
    const plan = this._plan;
    this.node.replaceChildren();
    if (!plan || !this._model) {
      return;
    }
    const form = pipelineForm(plan.pipeline);
    if (this._form && this._pending) {
      // A volume row being filled in is not in the plan yet.
      form.volumes = this._form.volumes;
    }
    this._form = form;
    const trans = this._trans;
    const grid = document.createElement('div');
    grid.className = 'jp-chard-Settings-grid';
    const field = (label: string, input: HTMLElement, key: string): void => {
      const l = document.createElement('label');
      l.textContent = label;
      input.id = `jp-chard-settings-${key}-${this._uid}`;
      input.dataset.key = key;
      l.htmlFor = input.id;
      grid.append(l, input);
    };
    field(trans.__('Name'), Private.input(form.name), 'name');
    const description = document.createElement('textarea');
    description.className = 'jp-mod-styled';
    description.rows = 2;
    description.value = form.description;
    field(trans.__('Description'), description, 'description');
    field(trans.__('Experiment'), Private.input(form.experiment), 'experiment');
    field(trans.__('Image'), Private.input(form.image, trans.__('the default image')), 'image');
    const snapshot = document.createElement('input');
    snapshot.type = 'checkbox';
    snapshot.checked = form.snapshot;
    field(trans.__('Snapshot volumes'), snapshot, 'snapshot');
    field(
      trans.__('Snapshot class'),
      Private.input(form.snapshotClass, trans.__('cluster default')),
      'snapshotClass'
    );
    this._adviceNode.className = 'jp-chard-Settings-advice';
    this._adviceNode.setAttribute('role', 'status');
    this.node.append(grid, this._adviceNode, this._volumes(form.volumes));
    this._advice();
  }

  private _volumes(rows: IVolumeRow[]): HTMLElement {
    const trans = this._trans;
    const box = document.createElement('fieldset');
    box.className = 'jp-chard-Settings-volumes';
    const legend = document.createElement('legend');
    legend.textContent = trans.__('Workspace volumes');
    box.append(legend);
    rows.forEach((row, i) => {
      const line = document.createElement('div');
      line.className = 'jp-chard-Settings-volume';
      line.dataset.volume = String(i);
      const type = document.createElement('select');
      type.className = 'jp-mod-styled';
      for (const [value, label] of [
        ['pvc', trans.__('existing claim')],
        ['new_pvc', trans.__('new claim')]
      ]) {
        const option = document.createElement('option');
        option.value = value;
        option.textContent = label;
        type.append(option);
      }
      type.value = row.type;
      type.dataset.field = 'type';
      type.setAttribute('aria-label', trans.__('Volume %1 type', i + 1));
      const name = Private.input(row.name, trans.__('claim name'));
      name.dataset.field = 'name';
      name.setAttribute('aria-label', trans.__('Volume %1 claim name', i + 1));
      const mount = Private.input(row.mountPoint, trans.__('mount point'));
      mount.dataset.field = 'mountPoint';
      mount.setAttribute('aria-label', trans.__('Volume %1 mount point', i + 1));
      const size = Private.input(row.size, trans.__('size, e.g. 5Gi'));
      size.dataset.field = 'size';
      size.setAttribute('aria-label', trans.__('Volume %1 size', i + 1));
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'jp-Button jp-mod-minimal jp-chard-Settings-removeVolume';
      remove.textContent = '×';
      remove.title = trans.__('Remove volume %1', i + 1);
      remove.setAttribute('aria-label', remove.title);
      line.append(type, name, mount, size, remove);
      box.append(line);
    });
    const add = document.createElement('button');
    add.type = 'button';
    add.className = 'jp-Button jp-mod-styled jp-mod-reject jp-chard-Settings-addVolume';
    add.textContent = trans.__('Add volume');
    box.append(add);
    return box;
  }

  /** Read the fields into the form and write it (one transaction). */
  private _commit(read = true): void {
    const form = this._form;
    const model = this._model;
    if (!form || !model) {
      return;
    }
    if (read) {
      const value = (key: string): string =>
        (this.node.querySelector<HTMLInputElement>(`[data-key="${key}"]`)?.value ?? '').trim();
      form.name = value('name');
      form.description = value('description');
      form.experiment = value('experiment');
      form.image = value('image');
      form.snapshotClass = value('snapshotClass');
      form.snapshot =
        this.node.querySelector<HTMLInputElement>('[data-key="snapshot"]')?.checked ?? false;
      this.node.querySelectorAll<HTMLElement>('[data-volume]').forEach(line => {
        const row = form.volumes[Number(line.dataset.volume)];
        const get = (f: string): string =>
          line.querySelector<HTMLInputElement>(`[data-field="${f}"]`)?.value ?? '';
        if (row) {
          row.type = get('type') === 'new_pvc' ? 'new_pvc' : 'pvc';
          row.name = get('name');
          row.mountPoint = get('mountPoint');
          row.size = get('size');
        }
      });
    }
    // A volume without a name or a mount point is kept in the form until it has both.
    const complete = form.volumes.filter(v => v.name.trim() && v.mountPoint.trim());
    this._pending = complete.length !== form.volumes.length;
    const written: IPipelineForm = { ...form, volumes: complete };
    model.sharedModel.transact(() => writePipelineForm(model, written));
    this._advice();
  }

  private _advice(): void {
    const plan = this._plan;
    const image =
      this.node.querySelector<HTMLInputElement>('[data-key="image"]')?.value.trim() ??
      plan?.pipeline.image ??
      '';
    const missing = plan ? missingPackages(image, plan) : [];
    this._adviceNode.textContent =
      missing.length > 0
        ? this._trans.__(
            '%1 is a bare Python image: the imports cells need %2, which it does not have. Use an image with them, or one built with pip install %3.',
            image,
            missing.join(', '),
            missing.join(' ')
          )
        : '';
    this._adviceNode.hidden = missing.length === 0;
  }

  private readonly _trans: TranslationBundle;
  private readonly _adviceNode = document.createElement('div');
  private _plan: IPlan | null = null;
  private _model: ISettingsModel | null = null;
  private _form: IPipelineForm | null = null;
  private _pending = false;
  private readonly _uid = Private.nextId();
}

namespace Private {
  let count = 0;

  /** A number unique in the page, for element ids. */
  export function nextId(): number {
    return ++count;
  }

  export function input(value: string, placeholder = ''): HTMLInputElement {
    const e = document.createElement('input');
    e.className = 'jp-mod-styled';
    e.value = value;
    e.placeholder = placeholder;
    e.spellcheck = false;
    return e;
  }
}
