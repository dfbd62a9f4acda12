/**
 * Services the Chard plugins provide to each other (and to other extensions).
 */
import { Token } from '@lumino/coreutils';
import type { ISignal } from '@lumino/signaling';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { IPlan } from '../core/plan.js';

/** The live pipeline plan of one open notebook, re-analysed as the notebook changes. */
export interface INotebookPlan {
  /** The latest plan, or null before the first analysis. */
  readonly plan: IPlan | null;
  /** Emitted after every analysis with the new plan. */
  readonly planChanged: ISignal<INotebookPlan, IPlan>;
  /** Analyse now (skipping the debounce delay) and return the plan. */
  refresh(): IPlan;
  readonly isDisposed: boolean;
}

/** One live plan per open notebook; each keeps its own analyzer so only edited cells are re-parsed. */
export interface IChardPlans {
  /** The live plan of a notebook panel (created on first use, disposed with the panel). */
  planFor(panel: NotebookPanel): INotebookPlan;
}

export const IChardPlans = new Token<IChardPlans>(
  'jupyterlab-chard:IChardPlans',
  'Live pipeline plans of the open notebooks, computed in the browser by Chard.'
);
