/**
 * Cluster run commands: `chard runs --cluster`, `chard logs RUN [STEP]`, `chard cancel RUN`,
 * plus the cluster options and error reporting `chard submit` shares.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createRunService, ServiceError } from '../server/index.js';
import type { IClusterAccess, RunService } from '../server/index.js';
import { CommandError } from './notebookfile.js';
import { commandError, progress, runService } from './service.js';
import { renderTable } from './table.js';

export { progress };

/** Options every cluster command takes. */
export const CLUSTER_OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  context: { type: 'string' },
  kubeconfig: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const;

export const CLUSTER_OPTIONS_USAGE = `  --namespace NS     namespace (default: the service account's, else the context's)
  --context NAME     kubeconfig context (default: the current one)
  --kubeconfig FILE  kubeconfig file (default: KUBECONFIG, else ~/.kube/config)
  --json             machine-readable output on stdout`;

/** Options for the Kubeflow Pipelines API. */
export const KFP_OPTIONS = {
  'kfp-endpoint': { type: 'string' },
  'kfp-token-file': { type: 'string' }
} as const;

export const KFP_OPTIONS_USAGE = `  --kfp-endpoint URL         Kubeflow Pipelines API (default: the run's, the notebook's kfp_endpoint setting, or CHARD_KFP_ENDPOINT)
  --kfp-token-file FILE      bearer token for the KFP API (e.g. a projected service-account token)`;

/** Cluster access from the cluster options. */
function access(values: Record<string, string | boolean | undefined>): IClusterAccess {
  return {
    namespace: s(values.namespace),
    context: s(values.context),
    kubeconfig: s(values.kubeconfig),
    kfpEndpoint: s(values['kfp-endpoint']),
    kfpTokenFile: s(values['kfp-token-file'])
  };
}

/** The service, looking for run records under `--dir`'s notebook folder when it is given. */
function serviceFor(dir: string | undefined): RunService {
  return dir === undefined
    ? runService()
    : createRunService({ root: path.dirname(path.resolve(dir)), onRetry: progress });
}

/** Turn a known failure into an exit code with a one-line message; rethrow the unknown. */
export function reportError(error: unknown, notebook?: string): number {
  const known = error instanceof ServiceError ? commandError(error, notebook) : error;
  if (known instanceof CommandError) {
    process.stderr.write(`chard: ${known.message}\n`);
    return known.exitCode;
  }
  throw error;
}

function parse(
  argv: string[],
  usage: string,
  extra: Record<string, { type: 'string' | 'boolean'; short?: string }> = {}
): { values: Record<string, string | boolean | undefined>; positionals: string[] } | number {
  try {
    const parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { ...CLUSTER_OPTIONS, ...extra }
    });
    if (parsed.values.help) {
      process.stdout.write(`${usage}\n`);
      return 0;
    }
    return parsed as {
      values: Record<string, string | boolean | undefined>;
      positionals: string[];
    };
  } catch (error) {
    process.stderr.write(`chard: ${(error as Error).message}\n${usage}\n`);
    return 2;
  }
}

function s(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export const RUNS_USAGE = `usage: chard runs --cluster [OPTIONS]

List Chard's runs (Argo Workflows) in the namespace.
${CLUSTER_OPTIONS_USAGE}`;

/** `chard runs --cluster`: the Workflows Chard created in the namespace. */
export async function clusterRunsCommand(argv: string[]): Promise<number> {
  const parsed = parse(argv, RUNS_USAGE, { cluster: { type: 'boolean' } });
  if (typeof parsed === 'number') {
    return parsed;
  }
  if (parsed.positionals.length > 0) {
    process.stderr.write(`chard: unexpected argument ${parsed.positionals[0]}\n${RUNS_USAGE}\n`);
    return 2;
  }
  try {
    const { namespace, runs: rows } = await runService().listCluster(access(parsed.values));
    if (parsed.values.json) {
      for (const row of rows) {
        process.stdout.write(`${JSON.stringify(row)}\n`);
      }
    } else if (rows.length === 0) {
      progress(`no Chard runs in namespace "${namespace}"`);
    } else {
      process.stdout.write(
        `${renderTable(
          ['run', 'status', 'pipeline', 'created'],
          rows.map(r => [r.run, r.status, r.pipeline, r.createdAt ?? '-'])
        )}\n`
      );
    }
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

export const LOGS_USAGE = `usage: chard logs RUN [STEP] [OPTIONS]

Print the logs of a cluster run's steps: from the run record kept next to the notebook
(.chard/runs/RUN/logs), else from the step pods. (Kubeflow Pipelines runs: the KFP API serves
no logs; see the run in the Kubeflow Pipelines UI.)
  --dir DIR          where the run records are (default: .chard in the current directory)
${CLUSTER_OPTIONS_USAGE}`;

/** `chard logs RUN [STEP]`: stored logs first, else the pods' logs. */
export async function clusterLogsCommand(argv: string[]): Promise<number> {
  const parsed = parse(argv, LOGS_USAGE, { dir: { type: 'string' } });
  if (typeof parsed === 'number') {
    return parsed;
  }
  const [run, step, ...rest] = parsed.positionals;
  if (!run || rest.length > 0) {
    process.stderr.write(`${LOGS_USAGE}\n`);
    return 2;
  }
  try {
    const json = parsed.values.json === true;
    const service = serviceFor(s(parsed.values.dir));
    for await (const chunk of service.logs(run, { step, cluster: access(parsed.values) })) {
      if (json) {
        const time = new Date().toISOString();
        for (const line of chunk.text.replace(/\n$/, '').split('\n')) {
          process.stdout.write(
            `${JSON.stringify({ event: 'log', run, time, step: chunk.step, stream: 'stdout', line })}\n`
          );
        }
        continue;
      }
      if (!step) {
        progress(`step ${chunk.step}:`);
      }
      const text = chunk.text;
      process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
    }
    return 0;
  } catch (error) {
    return reportError(error);
  }
}

export const CANCEL_USAGE = `usage: chard cancel RUN [OPTIONS]

Stop a cluster run: an Argo Workflow gets spec.shutdown Terminate (running steps are stopped);
a Kubeflow Pipelines run (known from its record next to the notebook) is terminated.
  --dir DIR                  where the run records are (default: .chard in the current directory)
${KFP_OPTIONS_USAGE}
${CLUSTER_OPTIONS_USAGE}`;

/** `chard cancel RUN`. */
export async function clusterCancelCommand(argv: string[]): Promise<number> {
  const parsed = parse(argv, CANCEL_USAGE, { dir: { type: 'string' }, ...KFP_OPTIONS });
  if (typeof parsed === 'number') {
    return parsed;
  }
  if (parsed.positionals.length !== 1) {
    process.stderr.write(`${CANCEL_USAGE}\n`);
    return 2;
  }
  const run = parsed.positionals[0];
  const v = parsed.values;
  try {
    const result = await serviceFor(s(v.dir)).cancel(run, { cluster: access(v) });
    if (result.how === 'already-finished' && result.record) {
      progress(`run ${result.record.id} had already ${result.record.status}`);
      return 0;
    }
    if (v.json) {
      process.stdout.write(
        `${JSON.stringify({ event: 'progress', run, time: new Date().toISOString(), message: 'cancel requested' })}\n`
      );
    } else {
      process.stdout.write(`cancel requested for run ${run}\n`);
    }
    return 0;
  } catch (error) {
    return reportError(error);
  }
}
