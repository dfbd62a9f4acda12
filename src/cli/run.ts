/**
 * `chard run NOTEBOOK`: run a notebook as a pipeline on this machine, through the run service.
 *
 *   chard run NOTEBOOK [--param NAME=VALUE]... [--python PATH] [--parallel N] [--json]
 *                      [--exclude PATTERN]... [--max-snapshot-size SIZE] [--snapshot auto|copy]
 *                      [--from STEP [--run RUN]] [--grace SECONDS] [--value-digest sha256|crc32]
 *   chard run --resume RUN [same options]
 */
import * as os from 'node:os';
import * as path from 'node:path';

import type { ILocalRunOptions, IRunDetails, IRunRecord, RunEvent } from '../core/index.js';
import { parseCommandArgs, splitParamArgs, valueDigestArg } from './args.js';
import { CommandError } from './notebookfile.js';
import { formatDuration, graceSeconds, stepTable } from './local.js';
import { runService, viaService } from './service.js';
import type { RunService } from '../server/index.js';

export const RUN_USAGE = `usage: chard run NOTEBOOK [options]
       chard run --resume RUN [options]

Runs the notebook as a pipeline on this machine: each step a separate Python process, in
parallel where the data flow allows, against a snapshot of the notebook's directory. The run is
recorded in .chard/runs/RUN next to the notebook (see: chard runs, chard logs RUN); the files
the steps write stay in its workspace/ folder (see: chard outputs RUN).

Options:
  --param NAME=VALUE        set a pipeline parameter (repeatable)
  --python PATH             the Python for the steps (default: the notebook's kernel, else python3)
  --parallel N              steps running at once (default: ${os.availableParallelism()}, the number of cores)
  --resume RUN              re-run the failed, skipped and cancelled steps of RUN, reusing its values
  --from STEP               re-run STEP and its descendants in a new run, reusing the values of
                            the notebook's latest run (or --run RUN) for the other steps
  --exclude PATTERN         leave files out of the snapshot (a name like data or *.tmp, or a
                            relative path like raw/big.bin; repeatable)
  --max-snapshot-size SIZE  refuse to snapshot more than SIZE (default 2GiB)
  --snapshot auto|copy      auto: copy-on-write / hard links for large files; copy: copy all
  --grace SECONDS           SIGTERM-to-SIGKILL grace period when cancelling (default 5)
  --value-digest D          how the values passed between steps are verified: crc32 (default),
                            or sha256 of each value file, checkable with sha256sum but slower
                            (overrides the notebook's chard.valueDigest)
  --no-infer                order steps by prev: tags only, as Kale does
  --json                    one JSON event per line on stdout`;

const RUN_OPTIONS = {
  param: { type: 'string', multiple: true },
  python: { type: 'string' },
  parallel: { type: 'string' },
  resume: { type: 'string' },
  from: { type: 'string' },
  run: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  'max-snapshot-size': { type: 'string' },
  snapshot: { type: 'string' },
  grace: { type: 'string' },
  'value-digest': { type: 'string' },
  'no-infer': { type: 'boolean' },
  json: { type: 'boolean' }
} as const;

/** `chard run`: parse the options, start (or resume) the run, follow it, print its summary. */
export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, RUN_USAGE, RUN_OPTIONS);
  if (values.help) {
    process.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1 || (positionals.length === 0 && !values.resume)) {
    throw new CommandError(`give one notebook (or --resume RUN)\n${RUN_USAGE}`, 2);
  }
  const local = Private.localOptions(values);
  const json = values.json === true;
  const service = runService();
  const onProgress = json
    ? undefined
    : (message: string) => process.stderr.write(`chard: ${message}\n`);
  const details = values.resume
    ? await Private.resume(service, values.resume, positionals[0], local, onProgress)
    : await viaService(
        () =>
          service.start(
            {
              notebook: positionals[0],
              target: 'local',
              parameters: Object.fromEntries(splitParamArgs(values.param ?? [])),
              local
            },
            { onProgress }
          ),
        positionals[0]
      );
  const started = await Private.follow(service, details, json, local.graceSeconds);

  const id = details.record.id;
  const final = { ...(await viaService(() => service.get(id))), record: await service.wait(id) };
  if (!started && final.record.status === 'failed') {
    // It never started (the snapshot failed ...): one line, as for any other refusal.
    throw new CommandError(final.record.message ?? `run ${id} failed`);
  }
  if (!json) {
    const outputs = await service.outputs(id).catch(() => []);
    process.stdout.write(Private.summary(final.record, final.dir, outputs.length) + '\n');
  }
  return final.record.status === 'succeeded' ? 0 : 1;
}

namespace Private {
  type Values = ReturnType<typeof parseCommandArgs<typeof RUN_OPTIONS>>['values'];

  /** The run's options from the command line; a wrong one is a usage error (exit code 2). */
  export function localOptions(values: Values): ILocalRunOptions & { graceSeconds: number } {
    if (values.resume && values.from) {
      throw new CommandError('--resume and --from do not go together', 2);
    }
    const parallel =
      values.parallel === undefined ? os.availableParallelism() : Number(values.parallel);
    if (!Number.isInteger(parallel) || parallel < 1) {
      throw new CommandError(`--parallel ${values.parallel}: give a whole number of at least 1`, 2);
    }
    if (values.run && !values.from) {
      throw new CommandError('--run RUN goes with --from STEP', 2);
    }
    const grace = graceSeconds(values.grace);
    if (values.snapshot !== undefined && values.snapshot !== 'auto' && values.snapshot !== 'copy') {
      throw new CommandError(`--snapshot ${values.snapshot}: give auto or copy`, 2);
    }
    const valueDigest = valueDigestArg(values['value-digest']);
    return {
      parallel,
      graceSeconds: grace,
      ...(values.python === undefined ? {} : { python: values.python }),
      ...(values.exclude ? { exclude: values.exclude } : {}),
      ...(values['max-snapshot-size'] === undefined
        ? {}
        : { maxSnapshot: values['max-snapshot-size'] }),
      ...(values.snapshot === 'copy' ? { snapshotMode: 'copy' as const } : {}),
      ...(valueDigest === undefined ? {} : { valueDigest }),
      ...(values['no-infer'] ? { noInfer: true } : {}),
      ...(values.from
        ? { from: { step: values.from, ...(values.run ? { run: values.run } : {}) } }
        : {})
    };
  }

  /** `--resume RUN`: a local run, of the notebook given (if one is). */
  export async function resume(
    service: RunService,
    id: string,
    notebook: string | undefined,
    local: ILocalRunOptions,
    onProgress: ((message: string) => void) | undefined
  ): Promise<IRunDetails> {
    const found = await viaService(() => service.get(id));
    if (found.record.backend !== 'local') {
      throw new CommandError(`run ${found.record.id} is not a local run`, 2);
    }
    if (notebook && path.resolve(notebook) !== found.notebook) {
      throw new CommandError(
        `run ${found.record.id} is a run of ${found.notebook}, not ${notebook}`,
        2
      );
    }
    return viaService(
      () => service.resume(found.record.id, { local }, { onProgress }),
      found.notebook
    );
  }

  /**
   * Show the run's events until it ends; Ctrl-C (or SIGTERM) cancels it. True when the run
   * started (its run-started event came).
   */
  export async function follow(
    service: RunService,
    details: IRunDetails,
    json: boolean,
    grace: number
  ): Promise<boolean> {
    const id = details.record.id;
    const view = new View(
      json,
      details.record.steps.map(s => s.name)
    );
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (!json) {
        view.note(
          signals === 1
            ? `chard: ${signal}: cancelling the run (stopping every step)`
            : 'chard: still stopping the steps'
        );
      }
      void service.cancel(id, { graceSeconds: grace }).catch(() => undefined);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let started = false;
    try {
      await viaService(async () => {
        for await (const { event } of service.events(id, { after: details.since })) {
          started ||= event.event === 'run-started';
          view.event(event);
        }
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      view.close();
    }
    return started;
  }

  const COLORS = [36, 33, 35, 32, 34, 91, 96, 93];

  /** What the terminal shows while a run goes on. */
  export class View {
    constructor(
      private readonly _json: boolean,
      steps: readonly string[]
    ) {
      this._tty = !_json && process.stderr.isTTY === true;
      this._width = Math.min(24, Math.max(...steps.map(s => s.length)));
      steps.forEach((s, i) => this._color.set(s, COLORS[i % COLORS.length]));
      if (this._tty) {
        this._timer = setInterval(() => this._redraw(), 250);
        this._timer.unref();
      }
    }

    event(event: RunEvent): void {
      if (this._json) {
        process.stdout.write(JSON.stringify(event) + '\n');
        return;
      }
      switch (event.event) {
        case 'log':
          this._print(`${this._prefix(event.step)} ${event.line}`);
          break;
        case 'progress':
          this.note(`chard: ${event.message}`);
          break;
        case 'step-started':
          this._running.set(event.step, Date.now());
          if (!this._tty) {
            this._print(`${this._prefix(event.step)} started`);
          }
          this._redraw();
          break;
        case 'step-finished': {
          const since = this._running.get(event.step);
          this._running.delete(event.step);
          const took = since === undefined ? '' : ` in ${formatDuration(Date.now() - since)}`;
          const detail =
            event.status === 'succeeded' ? '' : event.message ? `: ${event.message}` : '';
          this._print(`${this._prefix(event.step)} ${event.status}${took}${detail}`);
          break;
        }
        default:
          break;
      }
    }

    note(text: string): void {
      this._print(text);
    }

    close(): void {
      if (this._timer) {
        clearInterval(this._timer);
      }
      this._clear();
    }

    private _prefix(step: string): string {
      const label =
        step.length > this._width ? step.slice(0, this._width - 1) + '…' : step.padEnd(this._width);
      return this._tty ? `\x1b[${this._color.get(step) ?? 37}m${label}\x1b[0m │` : `${label} |`;
    }

    private _print(line: string): void {
      this._clear();
      process.stderr.write(line + '\n');
      this._draw();
    }

    private _clear(): void {
      if (this._tty && this._drawn > 0) {
        process.stderr.write(`\x1b[${this._drawn}F\x1b[J`);
        this._drawn = 0;
      }
    }

    private _draw(): void {
      if (!this._tty || this._running.size === 0) {
        return;
      }
      const lines = [...this._running].map(
        ([step, since]) =>
          `  \x1b[2m⟳\x1b[0m ${this._prefix(step)} running ${formatDuration(Date.now() - since)}`
      );
      process.stderr.write(lines.join('\n') + '\n');
      this._drawn = lines.length;
    }

    private _redraw(): void {
      this._clear();
      this._draw();
    }

    private readonly _tty: boolean;
    private readonly _width: number;
    private readonly _color = new Map<string, number>();
    private readonly _running = new Map<string, number>();
    private _drawn = 0;
    private _timer: NodeJS.Timeout | null = null;
  }

  export function summary(record: IRunRecord, dir: string, outputs: number): string {
    const took =
      record.startedAt && record.finishedAt
        ? ` in ${formatDuration(Date.parse(record.finishedAt) - Date.parse(record.startedAt))}`
        : '';
    const lines = [
      stepTable(record),
      '',
      `run ${record.id} ${record.status}${took}${record.message ? `: ${record.message}` : ''}`,
      `records: ${path.relative(process.cwd(), dir) || dir}`,
      `files the steps wrote: ${path.join(path.relative(process.cwd(), dir) || dir, 'workspace')}${path.sep} ` +
        (outputs === 0
          ? '(no new or changed files)'
          : `(${outputs} new or changed; copy them next to the notebook: chard outputs ${record.id} --copy)`)
    ];
    return lines.join('\n');
  }
}
