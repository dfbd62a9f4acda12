/**
 * Commands over local run records: `chard runs`, `chard logs RUN [STEP] [--follow]`,
 * `chard cancel RUN`.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

import type { IRunRecord, IStepRecord } from '../core/index.js';
import { isFinished } from '../core/index.js';
import { cancelRun } from '../server/local/cancel.js';
import { isProcessAlive, sleep } from '../server/local/processes.js';
import { findRuns, readRunPids, readRunRecord, resolveRun, runNotebook, runPaths, RunRecordError } from '../server/common/records.js';
import { parseCommandArgs } from './args.js';
import { CommandError } from './notebookfile.js';
import { renderTable } from './table.js';

/** `1.2s`, `3m 04s`, `1h 02m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) {
    return '-';
  }
  if (ms < 60000) {
    return `${(ms / 1000).toFixed(1)}s`;
  }
  const s = Math.round(ms / 1000);
  if (s < 3600) {
    return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  }
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function between(start: string | null, end: string | null): string {
  return start && end ? formatDuration(Date.parse(end) - Date.parse(start)) : '-';
}

function formatValue(value: number | string | boolean): string {
  if (typeof value === 'number' && !Number.isInteger(value)) {
    return String(Number(value.toPrecision(6)));
  }
  return String(value);
}

/** The per-step table of a run: step, status, duration, outputs, metrics. */
export function stepTable(record: IRunRecord): string {
  const rows = record.steps.map(s => [
    s.name,
    s.status + (s.message?.startsWith('reused') ? ' (reused)' : ''),
    between(s.startedAt, s.finishedAt),
    s.outputs.join(', ') || '-',
    Object.entries(s.metrics)
      .map(([k, v]) => `${k}=${formatValue(v)}`)
      .join(' ') || '-'
  ]);
  return renderTable(['STEP', 'STATUS', 'DURATION', 'OUTPUTS', 'METRICS'], rows);
}

/** `--grace SECONDS` (default 5); anything but a number of seconds is a usage error. */
export function graceSeconds(text: string | undefined): number {
  const grace = text === undefined ? 5 : Number(text);
  if (text?.trim() === '' || !Number.isFinite(grace) || grace < 0) {
    throw new CommandError(`--grace ${String(text)}: give a number of seconds`, 2);
  }
  return grace;
}

export const RUNS_USAGE = `usage: chard runs [DIR|NOTEBOOK] [--json]

Lists the local runs recorded under DIR (default: the current directory, searching .chard
directories up to 4 levels down) or next to NOTEBOOK, oldest first. A run whose runner is gone
before it finished shows as interrupted.

Options:
  --json   the run records as one JSON array on stdout

For runs on a cluster: chard runs --cluster --help`;

export const LOGS_USAGE = `usage: chard logs RUN [STEP] [--follow]

Prints the logs of a local run (RUN: a run id, a unique prefix of one, or a run directory):
every step's lines prefixed by the step's name, or STEP's log as it is.

Options:
  -f, --follow   keep printing what the steps write until the run ends

For a run on a cluster: chard logs --cluster --help`;

export const CANCEL_USAGE = `usage: chard cancel RUN [--grace SECONDS]

Stops a local run: its runner stops every step (SIGTERM, then SIGKILL after the grace period)
and records the run as cancelled; if the runner is gone, the steps are stopped directly.

Options:
  --grace SECONDS   SIGTERM-to-SIGKILL grace period (default 5)

For a run on a cluster: chard cancel --cluster --help`;

export async function runsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, RUNS_USAGE, {
    json: { type: 'boolean' }
  });
  if (values.help) {
    return Private.help(RUNS_USAGE);
  }
  if (positionals.length > 1) {
    throw new CommandError(`give at most one directory or notebook\n${RUNS_USAGE}`, 2);
  }
  let root = positionals[0] ?? process.cwd();
  if (root.endsWith('.ipynb')) {
    root = path.dirname(root);
  }
  const runs = await findRuns(root);
  const shown = await Promise.all(
    runs.map(async entry => ({
      ...entry,
      status: (await Private.interrupted(entry.dir, entry.record))
        ? 'interrupted'
        : entry.record.status
    }))
  );
  if (values.json === true) {
    process.stdout.write(
      JSON.stringify(shown.map(r => ({ ...r.record, status: r.status, dir: r.dir }))) + '\n'
    );
    return 0;
  }
  if (shown.length === 0) {
    process.stderr.write(`chard: no local runs under ${path.resolve(root)}\n`);
    return 0;
  }
  const rows = shown.map(r => [
    r.record.id,
    r.record.pipeline,
    r.status,
    r.record.startedAt ? r.record.startedAt.replace('T', ' ').slice(0, 19) : '-',
    between(r.record.startedAt, r.record.finishedAt),
    path.relative(process.cwd(), runNotebook(r))
  ]);
  process.stdout.write(
    renderTable(['RUN', 'PIPELINE', 'STATUS', 'STARTED (UTC)', 'DURATION', 'NOTEBOOK'], rows) + '\n'
  );
  return 0;
}

export async function logsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, LOGS_USAGE, {
    follow: { type: 'boolean', short: 'f' }
  });
  if (values.help) {
    return Private.help(LOGS_USAGE);
  }
  if (positionals.length < 1 || positionals.length > 2) {
    throw new CommandError(`give a run, and optionally one of its steps\n${LOGS_USAGE}`, 2);
  }
  const [spec, stepName] = positionals;
  const entry = await Private.run(spec);
  const steps = stepName
    ? entry.record.steps.filter(s => s.name === stepName || s.id === stepName)
    : entry.record.steps;
  if (steps.length === 0) {
    throw new CommandError(
      `run ${entry.record.id} has no step ${JSON.stringify(stepName)} (steps: ${entry.record.steps.map(s => s.name).join(', ')})`,
      2
    );
  }
  const printer = new Private.LogPrinter(entry.dir, steps, stepName === undefined);
  if (!values.follow) {
    await printer.print(true);
    return 0;
  }
  // Read the status before the logs: once the run is seen finished, one more read gets
  // everything (a step's log is complete before its status changes).
  for (;;) {
    const record = await readRunRecord(entry.dir);
    const gone = await Private.interrupted(entry.dir, record);
    const over = gone || isFinished(record.status);
    await printer.print(over);
    if (over) {
      if (gone) {
        process.stderr.write(
          `chard: the runner of run ${record.id} is gone (interrupted); no more output\n`
        );
      }
      return 0;
    }
    await sleep(Private.FOLLOW_INTERVAL_MS);
  }
}

export async function cancelCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, CANCEL_USAGE, {
    grace: { type: 'string' }
  });
  if (values.help) {
    return Private.help(CANCEL_USAGE);
  }
  if (positionals.length !== 1) {
    throw new CommandError(`give one run\n${CANCEL_USAGE}`, 2);
  }
  const grace = graceSeconds(values.grace);
  const entry = await Private.run(positionals[0]);
  const result = await cancelRun(entry.dir, grace * 1000);
  if (result.how === 'already-finished') {
    process.stderr.write(`chard: run ${result.record.id} had already ${result.record.status}\n`);
    return 0;
  }
  process.stdout.write(`run ${result.record.id} ${result.record.status}\n`);
  return result.record.status === 'cancelled' ? 0 : 1;
}

namespace Private {
  export const FOLLOW_INTERVAL_MS = 250;

  export function help(usage: string): number {
    process.stdout.write(`${usage}\n`);
    return 0;
  }

  export async function run(spec: string) {
    try {
      return await resolveRun(spec, process.cwd());
    } catch (error) {
      if (error instanceof RunRecordError) {
        throw new CommandError(error.message);
      }
      throw error;
    }
  }

  /** A run recorded as pending or running whose runner process is gone. */
  export async function interrupted(dir: string, record: IRunRecord): Promise<boolean> {
    if (record.status !== 'running' && record.status !== 'pending') {
      return false;
    }
    const pids = await readRunPids(dir);
    return !pids || !isProcessAlive(pids.runner.pid, pids.runner.start);
  }

  /**
   * Prints step logs from where the last call stopped: one step's log as it is, or every
   * step's complete lines prefixed by the step's name (a partial line waits for its end, or
   * for the last call).
   */
  export class LogPrinter {
    constructor(
      dir: string,
      private readonly _steps: readonly IStepRecord[],
      private readonly _prefixed: boolean
    ) {
      this._logs = runPaths(dir).logs;
      this._width = Math.max(..._steps.map(s => s.name.length));
    }

    async print(last: boolean): Promise<void> {
      for (const step of this._steps) {
        let state = this._state.get(step.id);
        if (!state) {
          state = { offset: 0, decoder: new StringDecoder('utf8'), partial: '' };
          this._state.set(step.id, state);
        }
        const chunk = await this._read(step, state);
        let text = chunk + (last ? state.decoder.end() : '');
        if (!this._prefixed) {
          process.stdout.write(text);
          continue;
        }
        text = state.partial + text;
        const lines = text.split('\n');
        state.partial = lines.pop() ?? '';
        if (last && state.partial) {
          lines.push(state.partial);
          state.partial = '';
        }
        process.stdout.write(lines.map(l => `${step.name.padEnd(this._width)} | ${l}\n`).join(''));
      }
    }

    /** What the step's log holds past `state.offset` (empty when there is no log yet). */
    private async _read(
      step: IStepRecord,
      state: { offset: number; decoder: StringDecoder }
    ): Promise<string> {
      let handle: fsp.FileHandle;
      try {
        handle = await fsp.open(path.join(this._logs, `${step.id}.log`), 'r');
      } catch {
        return ''; // the step has not run (yet)
      }
      try {
        let text = '';
        const buffer = Buffer.alloc(64 * 1024);
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, state.offset);
          if (bytesRead === 0) {
            return text;
          }
          state.offset += bytesRead;
          text += state.decoder.write(buffer.subarray(0, bytesRead));
        }
      } finally {
        await handle.close();
      }
    }

    private readonly _logs: string;
    private readonly _width: number;
    private readonly _state = new Map<
      string,
      { offset: number; decoder: StringDecoder; partial: string }
    >();
  }
}
