/**
 * The model of the run monitor: one run's steps (state, start, end, error location, metrics)
 * and their logs, built from the run's record and then from its numbered events. An event at or
 * below the last sequence number seen is ignored, so a reconnecting stream can replay safely.
 * The step states are written into the notebook's `IStepStates`, which the DAG and the chips
 * read.
 */
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';
import type { IRunDetails, IRunEventEnvelope } from '../core/api.js';
import type { IRunRecord, RunStatus, StepStatus } from '../core/runs.js';
import type { IStepStates } from './tokens.js';

/** A step as the monitor shows it. */
export interface IMonitorStep {
  name: string;
  status: StepStatus;
  startedAt: string | null;
  finishedAt: string | null;
  message: string | null;
  /** 0-based cell index and 1-based line of a failure, when known. */
  cell: number | null;
  line: number | null;
  metrics: Record<string, number | string | boolean>;
}

/** Where a failed step failed in the notebook. */
export interface IFailure {
  step: string;
  message: string;
  cell: number | null;
  line: number | null;
}

export class RunMonitorModel {
  constructor(options: RunMonitorModel.IOptions = {}) {
    this._states = options.states ?? null;
    this._maxLogLines = options.maxLogLines ?? 100_000;
  }

  get id(): string | null {
    return this._record?.id ?? null;
  }

  get record(): IRunRecord | null {
    return this._record;
  }

  get status(): RunStatus | null {
    return this._status;
  }

  get message(): string | null {
    return this._message;
  }

  /** The last event's sequence number (a stream resumes after it). */
  get lastSeq(): number {
    return this._lastSeq;
  }

  get steps(): readonly IMonitorStep[] {
    return [...this._steps.values()];
  }

  step(name: string): IMonitorStep | undefined {
    return this._steps.get(name);
  }

  /** The run is over. */
  get finished(): boolean {
    return this._status !== null && this._status !== 'pending' && this._status !== 'running';
  }

  /** Emitted after the run's state changed (steps, status). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emitted with the step and the lines appended to its log. */
  get logAppended(): ISignal<this, { step: string; lines: readonly string[] }> {
    return this._logAppended;
  }

  /** The step states are written here too (the notebook's, for the DAG and the chips). */
  set states(states: IStepStates | null) {
    this._states = states;
    this._pushStates([...this._steps.keys()]);
  }

  /** Show a run: its record as the service answered. Events after `since` follow. */
  load(details: IRunDetails): void {
    const { record } = details;
    this._record = record;
    this._status = record.status;
    this._message = record.message;
    this._lastSeq = details.since ?? 0;
    this._steps.clear();
    this._logs.clear();
    for (const s of record.steps) {
      this._steps.set(s.name, {
        name: s.name,
        status: s.status,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt,
        message: s.message,
        cell: s.cell,
        line: s.line,
        metrics: { ...s.metrics }
      });
    }
    this._states?.clear();
    this._pushStates([...this._steps.keys()]);
    this._changed.emit();
  }

  /** Apply an event (ignored when its seq is not after the last one). */
  apply(envelope: IRunEventEnvelope): void {
    if (envelope.seq <= this._lastSeq) {
      return;
    }
    this._lastSeq = envelope.seq;
    const event = envelope.event;
    switch (event.event) {
      case 'run-started':
        this._status = 'running';
        for (const name of event.steps) {
          if (!this._steps.has(name)) {
            this._steps.set(name, Private.pending(name));
          }
        }
        this._pushStates(event.steps);
        break;
      case 'step-started': {
        const step = this._stepOf(event.step);
        step.status = 'running';
        step.startedAt = event.time;
        step.finishedAt = null;
        step.message = null;
        step.cell = null;
        step.line = null;
        this._status = 'running';
        this._pushStates([event.step]);
        break;
      }
      case 'step-finished': {
        const step = this._stepOf(event.step);
        step.status = event.status;
        step.finishedAt = event.time;
        step.message = event.message;
        step.cell = event.cell;
        step.line = event.line;
        this._pushStates([event.step]);
        break;
      }
      case 'metric':
        this._stepOf(event.step).metrics[event.name] = event.value;
        break;
      case 'log':
        this.appendLog(event.step, event.line);
        return;
      case 'step-outputs':
        return; // the outputs view reads them again; the run's state is unchanged
      case 'progress':
        this._message = event.message;
        break;
      case 'run-finished':
        this._status = event.status;
        this._message = event.message;
        break;
    }
    this._changed.emit();
  }

  /** A step's log lines kept (the last `maxLogLines`). */
  log(step: string): readonly string[] {
    return this._logs.get(step) ?? [];
  }

  /** Append text to a step's log (text may hold several lines). */
  appendLog(step: string, text: string): void {
    const lines = text.replace(/\r?\n$/, '').split(/\r?\n/);
    let log = this._logs.get(step);
    if (!log) {
      log = [];
      this._logs.set(step, log);
    }
    log.push(...lines);
    if (log.length > this._maxLogLines) {
      log.splice(0, log.length - this._maxLogLines);
    }
    this._logAppended.emit({ step, lines });
  }

  /** Replace a step's log (a log fetched whole). */
  setLog(step: string, text: string): void {
    this._logs.set(step, []);
    if (text) {
      this.appendLog(step, text);
    }
  }

  /** How long a step ran (or has been running, at `now`), in ms; null before it started. */
  duration(step: string, now: number = Date.now()): number | null {
    const s = this._steps.get(step);
    if (!s?.startedAt) {
      return null;
    }
    const end = s.finishedAt ? Date.parse(s.finishedAt) : now;
    return Math.max(0, end - Date.parse(s.startedAt));
  }

  /** The failed steps and where in the notebook they failed. */
  get failures(): IFailure[] {
    return this.steps
      .filter(s => s.status === 'failed')
      .map(s => ({ step: s.name, message: s.message ?? '', cell: s.cell, line: s.line }));
  }

  dispose(): void {
    Signal.clearData(this);
  }

  private _stepOf(name: string): IMonitorStep {
    let step = this._steps.get(name);
    if (!step) {
      step = Private.pending(name);
      this._steps.set(name, step);
    }
    return step;
  }

  private _pushStates(names: readonly string[]): void {
    if (!this._states || names.length === 0) {
      return;
    }
    const update: Record<string, StepStatus> = {};
    for (const name of names) {
      const step = this._steps.get(name);
      if (step) {
        update[name] = step.status;
      }
    }
    this._states.set(update);
  }

  private _record: IRunRecord | null = null;
  private _status: RunStatus | null = null;
  private _message: string | null = null;
  private _lastSeq = 0;
  private _states: IStepStates | null;
  private readonly _maxLogLines: number;
  private readonly _steps = new Map<string, IMonitorStep>();
  private readonly _logs = new Map<string, string[]>();
  private readonly _changed = new Signal<this, void>(this);
  private readonly _logAppended = new Signal<this, { step: string; lines: readonly string[] }>(
    this
  );
}

export namespace RunMonitorModel {
  export interface IOptions {
    states?: IStepStates;
    /** Log lines kept per step (default 100,000). */
    maxLogLines?: number;
  }
}

/** A duration as users read it: 850 ms, 12.3 s, 4 min 05 s, 1 h 02 min. */
export function formatDuration(ms: number): string {
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  const s = ms / 1000;
  if (s < 60) {
    return `${s.toFixed(1)} s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  }
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

namespace Private {
  export function pending(name: string): IMonitorStep {
    return {
      name,
      status: 'pending',
      startedAt: null,
      finishedAt: null,
      message: null,
      cell: null,
      line: null,
      metrics: {}
    };
  }
}
