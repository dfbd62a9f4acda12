/**
 * Cluster run commands: `chard runs --cluster`, `chard logs RUN [STEP]`, `chard cancel RUN`,
 * plus the cluster options and error reporting `chard submit` shares.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CompileError } from '../core/compile/options.js';
import { NotebookError } from '../core/notebook.js';
import type { IRunRecord } from '../core/runs.js';
import type { IKfpClient } from '../server/kfp/client.js';
import { createKfpClient, KfpError } from '../server/kfp/client.js';
import type { IKubeClient } from '../server/kube/client.js';
import { createKubeClient, WORKFLOWS } from '../server/kube/client.js';
import type { IClusterConfig } from '../server/kube/config.js';
import { ClusterConfigError, loadClusterConfig } from '../server/kube/config.js';
import { KubeApiError } from '../server/kube/errors.js';
import {
  cancelWorkflow,
  fetchNodeLog,
  workflowNodes,
  workflowPods,
  workflowStatus
} from '../server/kube/monitor.js';
import { RunRecordStore } from '../server/kube/record.js';
import { RunRecordError } from '../server/local/records.js';
import { SnapshotError } from '../server/kube/snapshot.js';
import { ANNOTATION_PIPELINE, LABEL_MANAGED } from '../server/kube/submit.js';
import { WorkspaceError } from '../server/kube/workspace.js';
import { CommandError } from './notebookfile.js';
import { renderTable } from './table.js';

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

/** Write one line to stderr (progress). */
export function progress(message: string): void {
  process.stderr.write(`chard: ${message}\n`);
}

/** Load cluster access and a client whose retries are reported on stderr. */
export function connect(values: { namespace?: string; context?: string; kubeconfig?: string }): {
  config: IClusterConfig;
  client: IKubeClient;
} {
  const config = loadClusterConfig({
    namespace: values.namespace,
    context: values.context,
    kubeconfig: values.kubeconfig
  });
  const client = createKubeClient(config.kubeConfig, config.namespace, {
    onRetry: progress,
    onWarning: message => progress(`warning from the API server: ${message}`)
  });
  return { config, client };
}

/** Options for the Kubeflow Pipelines API. */
export const KFP_OPTIONS = {
  'kfp-endpoint': { type: 'string' },
  'kfp-token-file': { type: 'string' }
} as const;

export const KFP_OPTIONS_USAGE = `  --kfp-endpoint URL         Kubeflow Pipelines API (default: the run's, the notebook's kfp_endpoint setting, or CHARD_KFP_ENDPOINT)
  --kfp-token-file FILE      bearer token for the KFP API (e.g. a projected service-account token)`;

/**
 * A Kubeflow Pipelines client: the endpoint from --kfp-endpoint, else `fallback` (the run's or
 * the notebook's), else CHARD_KFP_ENDPOINT; usage errors (exit 2) when there is none.
 */
export function connectKfp(
  values: { 'kfp-endpoint'?: string; 'kfp-token-file'?: string },
  fallback: string | undefined,
  onRetry: (message: string) => void = progress
): IKfpClient {
  const endpoint = values['kfp-endpoint'] ?? fallback ?? process.env.CHARD_KFP_ENDPOINT;
  if (!endpoint) {
    throw new CommandError(
      'Kubeflow Pipelines needs an endpoint: pass --kfp-endpoint URL ' +
        '(in a Kubeflow notebook: http://ml-pipeline.kubeflow:8888) or set CHARD_KFP_ENDPOINT',
      2
    );
  }
  const tokenFile = values['kfp-token-file'];
  if (tokenFile && !fs.existsSync(tokenFile)) {
    throw new CommandError(`--kfp-token-file ${tokenFile}: no such file`, 2);
  }
  return createKfpClient({ endpoint, tokenFile, onRetry });
}

/**
 * The run record kept next to the notebooks (`--dir`, default `.chard` here); null when there
 * is none or `run` cannot name one (then only the cluster may know it).
 */
function localRecord(
  dir: string | undefined,
  run: string
): { store: RunRecordStore; record: IRunRecord | null } {
  const store = new RunRecordStore(dir ?? path.resolve('.chard'));
  try {
    store.runDir(run);
  } catch {
    return { store, record: null };
  }
  return { store, record: store.readRecord(run) };
}

/** Turn a known failure into an exit code with a one-line message; rethrow the unknown. */
export function reportError(error: unknown): number {
  if (error instanceof CommandError) {
    process.stderr.write(`chard: ${error.message}\n`);
    return error.exitCode;
  }
  if (
    error instanceof KubeApiError ||
    error instanceof ClusterConfigError ||
    error instanceof SnapshotError ||
    error instanceof WorkspaceError ||
    error instanceof CompileError ||
    error instanceof NotebookError ||
    error instanceof KfpError ||
    error instanceof RunRecordError
  ) {
    process.stderr.write(`chard: ${error.message}\n`);
    return 1;
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
    const { client } = connect({
      namespace: s(parsed.values.namespace),
      context: s(parsed.values.context),
      kubeconfig: s(parsed.values.kubeconfig)
    });
    const listed = await client.list(WORKFLOWS, { labelSelector: `${LABEL_MANAGED}=chard` });
    const rows = listed.items
      .map(wf => {
        const st = workflowStatus(wf);
        const status = (wf.status ?? {}) as Record<string, unknown>;
        return {
          run: wf.metadata?.name ?? '',
          status: st.status,
          pipeline: wf.metadata?.annotations?.[ANNOTATION_PIPELINE] ?? '',
          createdAt: wf.metadata?.creationTimestamp ?? null,
          finishedAt: typeof status.finishedAt === 'string' ? status.finishedAt : null,
          namespace: client.namespace,
          message: st.message
        };
      })
      .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
    if (parsed.values.json) {
      for (const row of rows) {
        process.stdout.write(`${JSON.stringify(row)}\n`);
      }
    } else if (rows.length === 0) {
      progress(`no Chard runs in namespace "${client.namespace}"`);
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

/** What `chard logs` says for a KFP run: its API has no logs; where to see them instead. */
function kfpNoLogs(record: IRunRecord): string {
  const id = record.cluster?.kfpRunId ?? 'unknown';
  return (
    `run ${record.id} ran on Kubeflow Pipelines, whose API serves no step logs: open it in the ` +
    `Kubeflow Pipelines UI (Runs > "${record.id}", or #/runs/details/${id} on the Pipelines UI)`
  );
}

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
    const { store, record } = localRecord(s(parsed.values.dir), run);
    if (record?.backend === 'kfp') {
      throw new CommandError(kfpNoLogs(record));
    }
    const json = parsed.values.json === true;
    const emit = (stepName: string, text: string): void => {
      if (json) {
        const time = new Date().toISOString();
        for (const line of text.replace(/\n$/, '').split('\n')) {
          process.stdout.write(
            `${JSON.stringify({ event: 'log', run, time, step: stepName, stream: 'stdout', line })}\n`
          );
        }
      } else {
        process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
      }
    };
    const wanted = (name: string, id: string): boolean => !step || step === name || step === id;
    const missing: { name: string; id: string }[] = [];
    if (record) {
      const steps = record.steps.filter(st => wanted(st.name, st.id));
      if (steps.length === 0) {
        throw new CommandError(
          `run ${run} has no step "${step}" (steps: ${record.steps.map(st => st.name).join(', ')})`
        );
      }
      for (const st of steps) {
        const text = store.readLog(run, st.id);
        if (text === null) {
          missing.push(st);
        } else {
          if (!step && !json) {
            progress(`step ${st.name}:`);
          }
          emit(st.name, text);
        }
      }
      if (missing.length === 0) {
        return 0;
      }
    }
    const { client } = connect({
      namespace: s(parsed.values.namespace),
      context: s(parsed.values.context),
      kubeconfig: s(parsed.values.kubeconfig)
    });
    const wf = await client.get(WORKFLOWS, run);
    const pods = await workflowPods(client, run);
    const nodes = workflowNodes(wf).filter(n => n.type === 'Pod');
    const keys = (n: { displayName: string }): string => n.displayName.replace(/\(\d+\)$/, '');
    const chosen = nodes.filter(n =>
      record ? missing.some(m => m.id === keys(n)) : wanted(keys(n), keys(n))
    );
    if (chosen.length === 0 && step) {
      throw new CommandError(`run ${run} has no step "${step}" with a pod`);
    }
    let failed = false;
    for (const node of chosen) {
      const text = await fetchNodeLog(client, run, node, pods ?? undefined);
      if (!step && !json) {
        progress(`step ${keys(node)}:`);
      }
      if (text === null) {
        progress(`no log for step ${keys(node)}: its pod is gone and no copy was kept`);
        failed = true;
      } else {
        emit(keys(node), text);
      }
    }
    return failed ? 1 : 0;
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
    const { record } = localRecord(s(v.dir), run);
    const kfpRunId = record?.backend === 'kfp' ? record.cluster?.kfpRunId : undefined;
    if (kfpRunId) {
      const kfp = connectKfp(
        { 'kfp-endpoint': s(v['kfp-endpoint']), 'kfp-token-file': s(v['kfp-token-file']) },
        record?.cluster?.kfpEndpoint
      );
      await kfp.terminateRun(kfpRunId);
    } else {
      const { client } = connect({
        namespace: s(v.namespace),
        context: s(v.context),
        kubeconfig: s(v.kubeconfig)
      });
      await cancelWorkflow(client, run);
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
