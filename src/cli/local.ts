/**
 * Commands over local run records: `chard runs`, `chard logs RUN [STEP] [--follow]`,
 * `chard cancel RUN`.
 */
import * as path from 'node:path';

import type { IRunRecord } from '../core/index.js';
import { parseCommandArgs } from './args.js';
import { CommandError } from './notebookfile.js';
import { runService, viaService } from './service.js';
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

export const RUNS_USAGE = `usage: chard runs [DIR|NOTEBOOK] [--all] [--json]

Lists the local runs recorded under DIR (default: the current directory, searching .chard
directories up to 4 levels down) or next to NOTEBOOK, oldest first. A run whose runner is gone
before it finished is recorded as failed and shows as interrupted.

Options:
  --all    every run you started, wherever its notebook is (from the run index in
           \${CHARD_STATE_DIR:-\${XDG_STATE_HOME:-~/.local/state}/chard})
  --json   the run records as one JSON array on stdout

For runs on a cluster: chard runs --cluster --help`;

export const LOGS_USAGE = `usage: chard logs RUN [STEP] [--follow]

Prints the logs of a local run (RUN: a run id, a unique prefix of one, or a run directory;
found from any directory):
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

export const OUTPUTS_USAGE = `usage: chard outputs RUN [PATH...] [--copy [--force]] [--json]

Lists the files a local run's steps wrote. The steps run in a snapshot of the notebook's
folder (.chard/runs/RUN/workspace/), so what they write stays there, away from your files.

Options:
  --copy    copy the outputs (or the PATHs given: files or folders of the workspace) next to
            the notebook, each file atomically
  --force   with --copy: replace files next to the notebook that differ (otherwise nothing is
            copied and the differing files are named)
  --json    one JSON object on stdout`;

export async function runsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, RUNS_USAGE, {
    json: { type: 'boolean' },
    all: { type: 'boolean' }
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
  const service = runService();
  const runs = (
    await viaService(() => service.list({}, { root, all: values.all === true }))
  ).filter(r => r.backend === 'local' || values.all === true);
  if (values.json === true) {
    process.stdout.write(JSON.stringify(runs) + '\n');
    return 0;
  }
  if (runs.length === 0) {
    const elsewhere = await service.indexed();
    process.stderr.write(
      `chard: no local runs under ${path.resolve(root)}` +
        (elsewhere > 0 ? ` (${elsewhere} run(s) elsewhere: chard runs --all)` : '') +
        '\n'
    );
    return 0;
  }
  const rows = runs.map(r => [
    r.id,
    r.pipeline,
    r.message?.startsWith('interrupted') ? 'interrupted' : r.status,
    r.startedAt ? r.startedAt.replace('T', ' ').slice(0, 19) : '-',
    between(r.startedAt, r.finishedAt),
    path.relative(process.cwd(), r.notebook)
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
  const service = runService();
  const details = await viaService(() => service.get(spec));
  const printer = new Private.LogPrinter(
    details.record.steps.map(s => s.name),
    stepName === undefined
  );
  await viaService(async () => {
    for await (const chunk of service.logs(spec, { step: stepName, follow: values.follow })) {
      printer.print(chunk.step, chunk.text, chunk.final);
    }
  });
  printer.end();
  if (values.follow) {
    const record = (await viaService(() => service.get(spec))).record;
    if (record.message?.startsWith('interrupted')) {
      process.stderr.write(
        `chard: the runner of run ${record.id} is gone (interrupted); no more output\n`
      );
    }
  }
  return 0;
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
  const service = runService();
  const result = await viaService(() => service.cancel(positionals[0], { graceSeconds: grace }));
  const record = result.record as IRunRecord;
  if (result.how === 'already-finished') {
    process.stderr.write(`chard: run ${record.id} had already ${record.status}\n`);
    return 0;
  }
  process.stdout.write(`run ${record.id} ${record.status}\n`);
  return record.status === 'cancelled' ? 0 : 1;
}

export async function outputsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, OUTPUTS_USAGE, {
    copy: { type: 'boolean' },
    force: { type: 'boolean' },
    json: { type: 'boolean' }
  });
  if (values.help) {
    return Private.help(OUTPUTS_USAGE);
  }
  if (positionals.length < 1) {
    throw new CommandError(`give a run\n${OUTPUTS_USAGE}`, 2);
  }
  if (values.force && !values.copy) {
    throw new CommandError('--force goes with --copy', 2);
  }
  const [spec, ...paths] = positionals;
  const service = runService();
  if (values.copy) {
    const result = await viaService(() =>
      service.copyOutputs(spec, { paths, force: values.force === true })
    );
    if (values.json) {
      process.stdout.write(JSON.stringify(result) + '\n');
    } else if (result.copied.length === 0) {
      process.stderr.write(`chard: nothing to copy: ${result.target} already has these files\n`);
    } else {
      for (const rel of result.copied) {
        process.stdout.write(`${path.relative(process.cwd(), path.join(result.target, rel))}\n`);
      }
    }
    return 0;
  }
  if (paths.length > 0) {
    throw new CommandError('PATHs go with --copy', 2);
  }
  const details = await viaService(() => service.get(spec));
  const outputs = await viaService(() => service.outputs(spec));
  if (values.json) {
    process.stdout.write(JSON.stringify({ workspace: details.workspace, outputs }) + '\n');
    return 0;
  }
  process.stderr.write(
    `chard: run ${details.record.id} wrote into ${details.workspace}${path.sep}\n`
  );
  if (outputs.length === 0) {
    process.stderr.write('chard: no new or changed files\n');
    return 0;
  }
  process.stdout.write(
    renderTable(
      ['FILE', 'SIZE', 'NEXT TO THE NOTEBOOK'],
      outputs.map(o => [o.path, String(o.size), o.conflict ? 'differs' : '-'])
    ) + '\n'
  );
  return 0;
}

namespace Private {
  export function help(usage: string): number {
    process.stdout.write(`${usage}\n`);
    return 0;
  }

  /**
   * Prints step logs: one step's log as it is, or every step's complete lines prefixed by the
   * step's name (a partial line waits for its end, or for `end`).
   */
  export class LogPrinter {
    constructor(
      steps: readonly string[],
      private readonly _prefixed: boolean
    ) {
      this._width = Math.max(...steps.map(s => s.length));
    }

    print(step: string, text: string, final: boolean): void {
      if (!this._prefixed) {
        process.stdout.write(text);
        return;
      }
      const lines = ((this._partial.get(step) ?? '') + text).split('\n');
      const partial = lines.pop() ?? '';
      if (final && partial) {
        lines.push(partial);
      }
      this._partial.set(step, final ? '' : partial);
      this._write(step, lines);
    }

    end(): void {
      for (const [step, partial] of this._partial) {
        if (partial) {
          this._write(step, [partial]);
        }
      }
      this._partial.clear();
    }

    private _write(step: string, lines: string[]): void {
      process.stdout.write(lines.map(l => `${step.padEnd(this._width)} | ${l}\n`).join(''));
    }

    private readonly _width: number;
    private readonly _partial = new Map<string, string>();
  }
}
