/**
 * The step states of the run shown for a notebook: a small observable map that the run
 * monitor writes and the DAG and the step chips read.
 */
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';
import type { IStepStates, StepState } from './tokens.js';

export class StepStates implements IStepStates {
  get(step: string): StepState | undefined {
    return this._states.get(step);
  }

  get all(): ReadonlyMap<string, StepState> {
    return this._states;
  }

  get changed(): ISignal<this, readonly string[]> {
    return this._changed;
  }

  set(states: Readonly<Record<string, StepState | null>>): void {
    const changed: string[] = [];
    for (const [step, state] of Object.entries(states)) {
      if (state === null) {
        if (this._states.delete(step)) {
          changed.push(step);
        }
      } else if (this._states.get(step) !== state) {
        this._states.set(step, state);
        changed.push(step);
      }
    }
    if (changed.length > 0) {
      this._changed.emit(changed);
    }
  }

  clear(): void {
    const changed = [...this._states.keys()];
    this._states.clear();
    if (changed.length > 0) {
      this._changed.emit(changed);
    }
  }

  private readonly _states = new Map<string, StepState>();
  private readonly _changed = new Signal<this, readonly string[]>(this);
}
