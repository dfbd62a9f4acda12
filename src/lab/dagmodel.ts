/**
 * What the DAG view shows: a plan, the step states of a run, and the selected step. The
 * sidebar (and the DAG's main-area panel) set the plan and the states of the active notebook;
 * the run monitor writes states into the notebook's `IStepStates`, and the view repaints the
 * nodes whose state changed.
 */
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';
import type { IPlan } from '../core/plan.js';
import { StepStates } from './stepstates.js';
import type { IStepStates } from './tokens.js';

export class DagModel {
  constructor() {
    this._states.changed.connect(this._onStates, this);
  }

  /** The plan drawn, or null. */
  get plan(): IPlan | null {
    return this._plan;
  }

  set plan(plan: IPlan | null) {
    if (plan === this._plan) {
      return;
    }
    this._plan = plan;
    this._planChanged.emit(plan);
  }

  /** The step states drawn (a notebook's, fed by the run monitor). */
  get states(): IStepStates {
    return this._states;
  }

  set states(states: IStepStates) {
    if (states === this._states) {
      return;
    }
    this._states.changed.disconnect(this._onStates, this);
    const before = new Set([...this._states.all.keys(), ...states.all.keys()]);
    this._states = states;
    states.changed.connect(this._onStates, this);
    if (before.size > 0) {
      this._stateChanged.emit([...before]);
    }
  }

  /** The selected step (highlighted), or null. */
  get selected(): string | null {
    return this._selected;
  }

  set selected(step: string | null) {
    if (step === this._selected) {
      return;
    }
    this._selected = step;
    this._selectedChanged.emit(step);
  }

  get planChanged(): ISignal<this, IPlan | null> {
    return this._planChanged;
  }

  /** The steps whose state changed. */
  get stateChanged(): ISignal<this, readonly string[]> {
    return this._stateChanged;
  }

  get selectedChanged(): ISignal<this, string | null> {
    return this._selectedChanged;
  }

  dispose(): void {
    this._states.changed.disconnect(this._onStates, this);
    Signal.clearData(this);
  }

  private _onStates(_: IStepStates, steps: readonly string[]): void {
    this._stateChanged.emit(steps);
  }

  private _plan: IPlan | null = null;
  private _states: IStepStates = new StepStates();
  private _selected: string | null = null;
  private readonly _planChanged = new Signal<this, IPlan | null>(this);
  private readonly _stateChanged = new Signal<this, readonly string[]>(this);
  private readonly _selectedChanged = new Signal<this, string | null>(this);
}
