/**
 * Services the Chard plugins provide to each other (and to other extensions).
 */
import { Token } from '@lumino/coreutils';
import type { ISignal } from '@lumino/signaling';
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { IPlan } from '../core/plan.js';
import type { IAnalysisProgress } from './analysisworkers.js';

/** Cells parsed for a notebook since it was opened. */
export interface IParsedCounts {
  cells: number;
  /** Of those, cells parsed in a Web Worker. */
  inWorkers: number;
}

/** The state of a step in a run of the pipeline. */
export type StepState =
  'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'cached';

/**
 * The step states of the run shown for a notebook (none: the plan has not run). The run
 * monitor feeds them; the DAG and the step chips colour themselves from them.
 */
export interface IStepStates {
  /** The state of a step, or undefined when it has none. */
  get(step: string): StepState | undefined;
  /** Every step with a state. */
  readonly all: ReadonlyMap<string, StepState>;
  /** Set states (`null` removes a step's state); emits `changed` once with the steps changed. */
  set(states: Readonly<Record<string, StepState | null>>): void;
  /** Remove every state (a new plan, no run shown). */
  clear(): void;
  /** The names of the steps whose state changed. */
  readonly changed: ISignal<IStepStates, readonly string[]>;
}

/** The live pipeline plan of one open notebook, re-analysed as the notebook changes. */
export interface INotebookPlan {
  /** The step states of the run shown for this notebook. */
  readonly states: IStepStates;
  /** The latest plan, or null before the first analysis. */
  readonly plan: IPlan | null;
  /** Emitted after every analysis with the new plan (`analysing` is null by then). */
  readonly planChanged: ISignal<INotebookPlan, IPlan>;
  /** While an analysis parses a large batch of cells in Web Workers: how far it is; else null. */
  readonly analysing: IAnalysisProgress | null;
  /** Emitted as `analysing` changes, except when it ends with a new plan (`planChanged`). */
  readonly analysingChanged: ISignal<INotebookPlan, IAnalysisProgress | null>;
  /** Cells parsed for this notebook so far, and how many of them in Web Workers. */
  readonly parsed: IParsedCounts;
  /**
   * Analyse now (skipping the debounce delay), a large batch of cells in Web Workers, and
   * publish the plan. Resolves to it, or to null when a newer analysis superseded this one.
   */
  update(): Promise<IPlan | null>;
  /**
   * Analyse now on this thread and return the plan (it supersedes an analysis in flight).
   * Freezes the page while it parses the cells not parsed yet: prefer `update()`.
   */
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

/**
 * The backend's state as the sidebar shows it: the server extension's states, `not-installed`
 * (no `/chard/api` on the server), `unreachable` (no answer or an unexpected one), and `unknown`
 * before the first check.
 */
export type BackendStatus =
  'unknown' | 'ready' | 'starting' | 'restarting' | 'down' | 'not-installed' | 'unreachable';

export interface IBackendStatus {
  state: BackendStatus;
  /** What happened, from the server when it said (empty when ready). */
  message: string;
  /** Chard's version on the server, when it is ready. */
  version?: string;
}

/** Chard's backend on the Jupyter server, checked in the background. */
export interface IChardBackend {
  readonly status: IBackendStatus;
  readonly statusChanged: ISignal<IChardBackend, IBackendStatus>;
  /** Check now. */
  refresh(): Promise<void>;
}

export const IChardBackend = new Token<IChardBackend>(
  'jupyterlab-chard:IChardBackend',
  "The state of Chard's backend process on the Jupyter server (from its health endpoint)."
);
