/**
 * The pipeline's DAG drawn as a graph (laid out by dagre, drawn as SVG): a node per step in
 * the step's colour and, during a run, its state; edges carry the variables they pass (shown
 * on hover and focus); the imports/functions prelude is one line above the graph. A click (or
 * Enter) on a node asks for the step's first cell. Zoom: fit to the width, or a scale, with
 * the graph scrolling. A state change repaints only that node.
 */
import { nullTranslator } from '@jupyterlab/translation';
import type { ITranslator, TranslationBundle } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';
import type { IPlan } from '../core/plan.js';
import type { DagModel } from './dagmodel.js';
import { layoutDag } from './daglayout.js';
import type { IDagEdge, IDagLayout, IDagNode } from './daglayout.js';
import { applyNodeState, renderDagSvg } from './dagsvg.js';
import type { IDagSvg, IDagSvgOptions } from './dagsvg.js';
import { fitIcon, zoomInIcon, zoomOutIcon } from './icons.js';
import { cellRanges } from './planview.js';
import type { StepState } from './tokens.js';

/** A request to show a cell: a node's first cell, or the prelude's. */
export interface ICellRequest {
  cell: number;
  step: string | null;
}

export class DagView extends Widget {
  constructor(options: DagView.IOptions = {}) {
    super();
    this._trans = (options.translator ?? nullTranslator).load('jupyterlab-chard');
    this._id = `jp-chard-dag-${Private.nextId()}`;
    this.addClass('jp-chard-Dag');
    this._toolbar.className = 'jp-chard-Dag-toolbar';
    this._prelude.className = 'jp-chard-Dag-prelude';
    this._canvas.className = 'jp-chard-Dag-canvas';
    this._info.className = 'jp-chard-Dag-info';
    this._info.setAttribute('aria-live', 'polite');
    this._buildToolbar();
    this.node.append(this._toolbar, this._prelude, this._canvas, this._info);
    this._canvas.addEventListener('click', this);
    this._canvas.addEventListener('keydown', this);
    this._canvas.addEventListener('mouseover', this);
    this._canvas.addEventListener('focusin', this);
    this._canvas.addEventListener('mouseleave', this);
    this._render();
  }

  /** The model drawn (settable: the panel hands it the active notebook's). */
  get model(): DagModel | null {
    return this._model;
  }

  set model(model: DagModel | null) {
    if (model === this._model) {
      return;
    }
    if (this._model) {
      this._model.planChanged.disconnect(this._render, this);
      this._model.stateChanged.disconnect(this._onStates, this);
      this._model.selectedChanged.disconnect(this._onSelected, this);
    }
    this._model = model;
    if (model) {
      model.planChanged.connect(this._render, this);
      model.stateChanged.connect(this._onStates, this);
      model.selectedChanged.connect(this._onSelected, this);
    }
    this._render();
  }

  /** A node (or the prelude line) was clicked or activated with the keyboard. */
  get cellRequested(): ISignal<this, ICellRequest> {
    return this._cellRequested;
  }

  /** The current layout (null when nothing is drawn). */
  get graphLayout(): IDagLayout | null {
    return this._graph;
  }

  /** The zoom: `'fit'` (to the width, at most 1) or a scale. */
  get zoom(): 'fit' | number {
    return this._zoom;
  }

  set zoom(zoom: 'fit' | number) {
    this._zoom = typeof zoom === 'number' ? Math.min(4, Math.max(0.1, zoom)) : zoom;
    this._applyZoom();
  }

  handleEvent(event: Event): void {
    switch (event.type) {
      case 'click':
        this._activate(event.target);
        break;
      case 'keydown': {
        const key = (event as KeyboardEvent).key;
        if ((key === 'Enter' || key === ' ') && this._nodeOf(event.target)) {
          event.preventDefault();
          this._activate(event.target);
        }
        break;
      }
      case 'mouseover':
      case 'focusin':
        this._describe(event.target);
        break;
      case 'mouseleave':
        this._info.textContent = '';
        break;
      default:
        break;
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.model = null;
    super.dispose();
  }

  protected onResize(): void {
    if (this._zoom === 'fit') {
      this._applyZoom();
    }
  }

  protected onAfterShow(): void {
    this._applyZoom();
  }

  private _buildToolbar(): void {
    const trans = this._trans;
    const button = (
      label: string,
      icon: typeof fitIcon,
      onClick: () => void,
      kind: string
    ): HTMLButtonElement => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = `jp-Button jp-mod-minimal jp-chard-Dag-${kind}`;
      b.title = label;
      b.setAttribute('aria-label', label);
      icon.element({ container: b, tag: null, elementSize: 'normal' });
      b.addEventListener('click', onClick);
      return b;
    };
    const current = (): number =>
      this._zoom === 'fit' ? this._fitScale() : (this._zoom as number);
    this._toolbar.append(
      button(trans.__('Fit the graph to the width'), fitIcon, () => (this.zoom = 'fit'), 'fit'),
      button(trans.__('Zoom out'), zoomOutIcon, () => (this.zoom = current() / 1.25), 'zoomOut'),
      button(trans.__('Zoom in'), zoomInIcon, () => (this.zoom = current() * 1.25), 'zoomIn')
    );
  }

  /** Lay the plan out and draw it (a new plan, or a new model). */
  private _render(): void {
    const plan = this._model?.plan ?? null;
    // A re-analysis that leaves the graph as it was (an edit inside a step's code) keeps the
    // drawing: states and selection are kept up to date on it anyway.
    const key = plan ? Private.structure(plan) : null;
    if (key !== null && key === this._drawnKey && this._svg) {
      this._renderPrelude(plan);
      return;
    }
    this._drawnKey = key;
    this._svg = null;
    this._drawn = null;
    this._canvas.replaceChildren();
    this._nodes = new Map();
    this._byName = new Map();
    this._graph = null;
    this._info.textContent = '';
    this._renderPrelude(plan);
    if (!plan || plan.steps.length === 0) {
      this._toolbar.hidden = true;
      if (plan) {
        const note = document.createElement('p');
        note.className = 'jp-chard-Note';
        note.textContent = this._trans.__('No steps to draw.');
        this._canvas.append(note);
      }
      return;
    }
    this._toolbar.hidden = false;
    const start = performance.now();
    const layout = Private.layoutOf(plan, key ?? '');
    const laidOut = performance.now();
    const drawn = renderDagSvg(document, layout, this._svgOptions());
    this._canvas.append(drawn.svg);
    this._graph = layout;
    this._nodes = drawn.nodes;
    this._byName = new Map(layout.nodes.map(n => [n.name, n]));
    this._svg = drawn.svg;
    this._drawn = drawn;
    this._onSelected();
    this._applyZoom();
    const end = performance.now();
    // On the page's performance timeline; the end-to-end test reads them.
    performance.measure('chard:dag-render', {
      start,
      end,
      detail: { steps: plan.steps.length, layoutMs: laidOut - start, drawMs: end - laidOut }
    });
  }

  private _svgOptions(): IDagSvgOptions {
    const trans = this._trans;
    const labels = Private.stateLabels(trans);
    return {
      id: this._id,
      state: step => this._model?.states.get(step),
      describeNode: (node: IDagNode, state: StepState | undefined) =>
        state ? trans.__('Step %1: %2', node.name, labels[state]) : trans.__('Step %1', node.name),
      describeEdge: (edge: IDagEdge) =>
        edge.names.length > 0
          ? trans.__('%1 → %2: %3', edge.from, edge.to, edge.names.join(', '))
          : trans.__('%1 → %2: runs after it (prev:)', edge.from, edge.to)
    };
  }

  /** The imports and functions cells, once, above the graph. */
  private _renderPrelude(plan: IPlan | null): void {
    this._prelude.replaceChildren();
    const cells = plan ? [...plan.imports, ...plan.functions].map(b => b.cell) : [];
    if (!plan || cells.length === 0) {
      this._prelude.hidden = true;
      return;
    }
    this._prelude.hidden = false;
    const trans = this._trans;
    const parts: string[] = [];
    if (plan.imports.length > 0) {
      parts.push(trans.__('imports (%1)', cellRanges(plan.imports.map(b => b.cell))));
    }
    if (plan.functions.length > 0) {
      parts.push(trans.__('functions (%1)', cellRanges(plan.functions.map(b => b.cell))));
    }
    const first = Math.min(...cells);
    const line = document.createElement('div');
    line.className = 'jp-chard-Dag-preludeLine';
    line.tabIndex = 0;
    line.setAttribute('role', 'button');
    line.title = trans.__('Run before every step; select its first cell');
    line.textContent = trans.__('Before every step: %1', parts.join(' · '));
    const request = (): void => this._cellRequested.emit({ cell: first, step: null });
    line.addEventListener('click', request);
    line.addEventListener('keydown', (event: KeyboardEvent) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        request();
      }
    });
    this._prelude.append(line);
  }

  /** Repaint the nodes whose state changed (nothing else is touched). */
  private _onStates(_: unknown, steps: readonly string[]): void {
    const options = this._svgOptions();
    for (const step of steps) {
      const g = this._nodes.get(step);
      const node = this._byName.get(step);
      if (g && node) {
        applyNodeState(g, node, this._model?.states.get(step), options);
      }
    }
  }

  private _onSelected(): void {
    const selected = this._model?.selected ?? null;
    for (const [name, g] of this._nodes) {
      g.classList.toggle('jp-mod-selected', name === selected);
    }
  }

  private _fitScale(): number {
    const layout = this._graph;
    const width = this._canvas.clientWidth;
    if (!layout || width <= 0) {
      return 1;
    }
    return Math.min(1, Math.max(0.1, (width - 4) / layout.width));
  }

  private _applyZoom(): void {
    const layout = this._graph;
    const svg = this._svg;
    if (!layout || !svg) {
      return;
    }
    const scale = this._zoom === 'fit' ? this._fitScale() : this._zoom;
    svg.setAttribute('width', (layout.width * scale).toFixed(1));
    svg.setAttribute('height', (layout.height * scale).toFixed(1));
    this.node.dataset.zoom = this._zoom === 'fit' ? 'fit' : scale.toFixed(2);
  }

  private _nodeOf(target: EventTarget | null): SVGGElement | null {
    const e = target instanceof Element ? target.closest('.jp-chard-DagNode') : null;
    return e instanceof SVGGElement ? e : null;
  }

  private _activate(target: EventTarget | null): void {
    const g = this._nodeOf(target);
    const name = g?.dataset.step;
    if (!g || name === undefined) {
      return;
    }
    if (this._model) {
      this._model.selected = name;
    }
    const cell = g.dataset.cell;
    if (cell !== undefined) {
      this._cellRequested.emit({ cell: Number(cell), step: name });
    }
  }

  /** The hover/focus line under the graph: an edge's variables, or a node's summary. */
  private _describe(target: EventTarget | null): void {
    const e =
      target instanceof Element ? target.closest('.jp-chard-DagEdge, .jp-chard-DagNode') : null;
    if (!e) {
      return;
    }
    this._info.textContent = this._drawn?.describe(e) ?? '';
  }

  private readonly _trans: TranslationBundle;
  private readonly _id: string;
  private readonly _toolbar = document.createElement('div');
  private readonly _prelude = document.createElement('div');
  private readonly _canvas = document.createElement('div');
  private readonly _info = document.createElement('div');
  private readonly _cellRequested = new Signal<this, ICellRequest>(this);
  private _model: DagModel | null = null;
  private _graph: IDagLayout | null = null;
  private _svg: SVGSVGElement | null = null;
  private _drawn: IDagSvg | null = null;
  private _nodes = new Map<string, SVGGElement>();
  private _byName = new Map<string, IDagNode>();
  private _zoom: 'fit' | number = 'fit';
  /** The structure of the plan drawn (see `Private.structure`). */
  private _drawnKey: string | null = null;
}

export namespace DagView {
  export interface IOptions {
    translator?: ITranslator;
  }
}

namespace Private {
  /** What the drawing depends on: steps, their first cells, parents and edge variables. */
  export function structure(plan: IPlan): string {
    return JSON.stringify([
      plan.steps.map(s => [s.name, Math.min(...s.cells), s.parents]),
      plan.edges.map(e => [e.from, e.to, e.names])
    ]);
  }

  /**
   * The last layouts made, by plan structure: the sidebar and the DAG panel showing one
   * notebook, or a notebook shown again after another, reuse its layout instead of running
   * dagre again (layouts are plain data, never changed once made).
   */
  const layouts = new Map<string, IDagLayout>();
  const KEPT_LAYOUTS = 8;

  export function layoutOf(plan: IPlan, key: string): IDagLayout {
    let layout = layouts.get(key);
    if (layout) {
      layouts.delete(key);
    } else {
      layout = layoutDag(plan);
      if (layouts.size >= KEPT_LAYOUTS) {
        layouts.delete(layouts.keys().next().value as string);
      }
    }
    layouts.set(key, layout);
    return layout;
  }

  let count = 0;

  /** A number unique in the page, for element ids. */
  export function nextId(): number {
    return ++count;
  }

  export function stateLabels(trans: TranslationBundle): Record<StepState, string> {
    return {
      pending: trans.__('pending'),
      running: trans.__('running'),
      succeeded: trans.__('succeeded'),
      failed: trans.__('failed'),
      skipped: trans.__('skipped'),
      cancelled: trans.__('cancelled'),
      cached: trans.__('cached')
    };
  }
}
