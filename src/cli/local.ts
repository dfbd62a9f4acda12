/**
 * Commands over local run records: `chard runs`, `chard logs RUN [STEP]`, `chard cancel RUN`.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

import type { IRunRecord } from '../core/index.js';
import { cancelRun } from '../server/local/cancel.js';
import { isProcessAlive } from '../server/local/processes.js';
import {
  findRuns,
  readRunPids,
  resolveRun,
  runPaths,
  RunRecordError
} from '../server/local/records.js';
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

export async function runsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = Private.parse(argv, { json: { type: 'boolean' } });
  if (positionals.length > 1) {
    throw new CommandError('usage: chard runs [DIR|NOTEBOOK] [--json]', 2);
  }
  let root = positionals[0] ?? process.cwd();
  if (root.endsWith('.ipynb')) {
    root = path.dirname(root);
  }
  const runs = await findRuns(root);
  const shown = await Promise.all(
    runs.map(async entry => {
      let status: string = entry.record.status;
      if (status === 'running' || status === 'pending') {
        const pids = await readRunPids(entry.dir);
        if (!pids || !isProcessAlive(pids.runner.pid, pids.runner.start)) {
          status = 'interrupted';
        }
      }
      return { ...entry, status };
    })
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
    path.relative(
      process.cwd(),
      path.resolve(
        path.dirname(path.dirname(path.dirname(r.dir))),
        path.basename(r.record.notebook)
      )
    )
  ]);
  process.stdout.write(
    renderTable(['RUN', 'PIPELINE', 'STATUS', 'STARTED (UTC)', 'DURATION', 'NOTEBOOK'], rows) + '\n'
  );
  return 0;
}

export async function logsCommand(argv: string[]): Promise<number> {
  const { positionals } = Private.parse(argv, {});
  if (positionals.length < 1 || positionals.length > 2) {
    throw new CommandError('usage: chard logs RUN [STEP]', 2);
  }
  const entry = await Private.run(positionals[0]);
  const steps = positionals[1]
    ? entry.record.steps.filter(s => s.name === positionals[1] || s.id === positionals[1])
    : entry.record.steps;
  if (steps.length === 0) {
    throw new CommandError(
      `run ${entry.record.id} has no step ${JSON.stringify(positionals[1])} (steps: ${entry.record.steps.map(s => s.name).join(', ')})`,
      2
    );
  }
  const width = Math.max(...steps.map(s => s.name.length));
  for (const step of steps) {
    let text: string;
    try {
      text = await fsp.readFile(path.join(runPaths(entry.dir).logs, `${step.id}.log`), 'utf8');
    } catch {
      continue; // the step never ran
    }
    if (positionals[1]) {
      process.stdout.write(text);
    } else {
      const lines = text.split('\n');
      if (lines[lines.length - 1] === '') {
        lines.pop();
      }
      process.stdout.write(lines.map(l => `${step.name.padEnd(width)} | ${l}\n`).join(''));
    }
  }
  return 0;
}

export async function cancelCommand(argv: string[]): Promise<number> {
  const { values, positionals } = Private.parse(argv, { grace: { type: 'string' } });
  if (positionals.length !== 1) {
    throw new CommandError('usage: chard cancel RUN [--grace SECONDS]', 2);
  }
  const grace = values.grace === undefined ? 5 : Number(values.grace);
  if (!Number.isFinite(grace) || grace < 0) {
    throw new CommandError(`--grace ${String(values.grace)}: give a number of seconds`, 2);
  }
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
  export function parse<O extends NonNullable<ParseArgsConfig['options']>>(
    argv: string[],
    options: O
  ) {
    try {
      return parseArgs({ args: argv, allowPositionals: true, options });
    } catch (error) {
      throw new CommandError(error instanceof Error ? error.message : String(error), 2);
    }
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
}
