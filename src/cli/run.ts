/**
 * `chard run NOTEBOOK`: run a notebook as a pipeline on this machine (see src/server/local).
 *
 *   chard run NOTEBOOK [--param NAME=VALUE]... [--python PATH] [--parallel N] [--json]
 *                      [--exclude PATTERN]... [--max-snapshot-size SIZE] [--snapshot auto|copy]
 *                      [--from STEP [--run RUN]] [--grace SECONDS] [--value-digest sha256|crc32]
 *   chard run --resume RUN [same options]
 */
import * as os from 'node:os';
import * as path from 'node:path';

import { analyzeNotebookInParallel } from '../server/analysis/pool.js';
import type { IPlan, IRunRecord, RunEvent } from '../core/index.js';
import {
  checkImports,
  importedModules,
  PythonError,
  resolvePython
} from '../server/local/python.js';
import {
  latestRunOf,
  readRunPlan,
  resolveRun,
  runNotebook,
  RunRecordError
} from '../server/local/records.js';
import { runLocal, RunError } from '../server/local/runner.js';
import type { LocalRun } from '../server/local/runner.js';
import { parseSize, SnapshotError } from '../server/local/snapshot.js';
import { parameterOverrides, parseCommandArgs, splitParamArgs, valueDigestArg } from './args.js';
import { CommandError, formatDiagnostic, readNotebookFile } from './notebookfile.js';
import { formatDuration, graceSeconds, stepTable } from './local.js';

export const RUN_USAGE = `usage: chard run NOTEBOOK [options]
       chard run --resume RUN [options]

Runs the notebook as a pipeline on this machine: each step a separate Python process, in
parallel where the data flow allows, against a snapshot of the notebook's directory. The run is
recorded in .chard/runs/RUN next to the notebook (see: chard runs, chard logs RUN).

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

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, RUN_USAGE, {
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
  });
  if (values.help) {
    process.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 1 || (positionals.length === 0 && !values.resume)) {
    throw new CommandError(`give one notebook (or --resume RUN)\n${RUN_USAGE}`, 2);
  }
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

  try {
    // The notebook, and the run to resume or reuse.
    let notebook: string;
    let resumeDir: string | undefined;
    if (values.resume) {
      const entry = await resolveRun(values.resume, process.cwd());
      if (entry.record.backend !== 'local') {
        throw new CommandError(`run ${entry.record.id} is not a local run`, 2);
      }
      resumeDir = entry.dir;
      notebook = runNotebook(entry);
      if (positionals[0] && path.resolve(positionals[0]) !== notebook) {
        throw new CommandError(
          `run ${entry.record.id} is a run of ${notebook}, not ${positionals[0]}`,
          2
        );
      }
    } else {
      notebook = positionals[0];
    }
    let plan: IPlan;
    let metadata: Record<string, unknown> = {};
    try {
      const nb = await readNotebookFile(notebook);
      metadata = nb.metadata;
      plan = await analyzeNotebookInParallel(nb, {
        fileName: path.basename(notebook),
        ...(values['no-infer'] ? { inferDependencies: false } : {})
      });
    } catch (error) {
      if (!(resumeDir && error instanceof CommandError)) {
        throw error;
      }
      plan = await readRunPlan(resumeDir); // the notebook is gone: resume what was planned
    }
    const errors = plan.diagnostics.filter(d => d.severity === 'error');
    if (errors.length > 0) {
      for (const d of errors) {
        process.stderr.write(`${formatDiagnostic(notebook, d)}\n`);
      }
      throw new CommandError(
        `${notebook}: the notebook has ${errors.length} error(s); nothing was run`
      );
    }
    let from: { step: string; run: string } | undefined;
    if (values.from) {
      const source = values.run
        ? await resolveRun(values.run, process.cwd())
        : await latestRunOf(notebook);
      if (!source) {
        throw new CommandError(
          `--from ${values.from}: ${notebook} has no earlier run to reuse values from`
        );
      }
      from = { step: values.from, run: source.dir };
    }

    const parameters = parameterOverrides(plan, splitParamArgs(values.param ?? []));
    const chard = plan.pipeline.chard;
    const exclude = [...(chard.snapshotExclude ?? []), ...(values.exclude ?? [])];
    const sizeText = values['max-snapshot-size'];
    const maxSnapshotBytes = sizeText === undefined ? chard.snapshotMaxSize : parseSize(sizeText);
    if (maxSnapshotBytes === null) {
      throw new CommandError(
        `snapshot size limit ${JSON.stringify(sizeText)}: give a size like 2GiB or 500MB`,
        2
      );
    }

    const python = await resolvePython(metadata, values.python);
    const importProblem = await checkImports(
      python,
      importedModules(plan, path.dirname(path.resolve(notebook)))
    );
    if (importProblem) {
      throw new CommandError(importProblem);
    }

    const view = new Private.View(values.json === true, plan);
    if (!values.json) {
      process.stderr.write(
        `chard: running ${notebook} with ${python.command} (${python.source})\n`
      );
    }
    const controller = new AbortController();
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (!values.json) {
        view.note(
          signals === 1
            ? `chard: ${signal}: cancelling the run (stopping every step)`
            : 'chard: still stopping the steps'
        );
      }
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let result: LocalRun.IResult;
    try {
      result = await runLocal({
        plan,
        notebook,
        python: python.command,
        parallel,
        parameters,
        exclude,
        maxSnapshotBytes,
        snapshotMode: values.snapshot === 'copy' ? 'copy' : 'auto',
        graceMs: grace * 1000,
        signal: controller.signal,
        onEvent: event => view.event(event),
        resume: resumeDir,
        from,
        ...(valueDigest === undefined ? {} : { valueDigest })
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      view.close();
    }
    if (!values.json) {
      for (const warning of result.warnings) {
        process.stderr.write(`chard: warning: ${warning}\n`);
      }
      process.stdout.write(Private.summary(result.record, result.dir) + '\n');
    }
    return result.record.status === 'succeeded' ? 0 : 1;
  } catch (error) {
    if (
      error instanceof RunError ||
      error instanceof SnapshotError ||
      error instanceof PythonError ||
      error instanceof RunRecordError
    ) {
      throw new CommandError(error.message);
    }
    throw error;
  }
}

namespace Private {
  const COLORS = [36, 33, 35, 32, 34, 91, 96, 93];

  /** What the terminal shows while a run goes on. */
  export class View {
    constructor(
      private readonly _json: boolean,
      plan: IPlan
    ) {
      this._tty = !_json && process.stderr.isTTY === true;
      this._width = Math.min(24, Math.max(...plan.steps.map(s => s.name.length)));
      plan.steps.forEach((s, i) => this._color.set(s.name, COLORS[i % COLORS.length]));
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

  export function summary(record: IRunRecord, dir: string): string {
    const took =
      record.startedAt && record.finishedAt
        ? ` in ${formatDuration(Date.parse(record.finishedAt) - Date.parse(record.startedAt))}`
        : '';
    const lines = [
      stepTable(record),
      '',
      `run ${record.id} ${record.status}${took}${record.message ? `: ${record.message}` : ''}`,
      `records: ${path.relative(process.cwd(), dir) || dir}`
    ];
    return lines.join('\n');
  }
}
