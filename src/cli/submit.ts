/**
 * `chard submit NOTEBOOK`: run a notebook's pipeline on the cluster (Argo Workflows, default,
 * or Kubeflow Pipelines), with the notebook's workspace volumes snapshotted and mounted in every
 * step; `--watch` follows the run to its end, printing each step's log.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { analyzeNotebookInParallel } from '../server/analysis/pool.js';
import { compileArgo } from '../core/compile/argo.js';
import { compileKfp } from '../core/compile/kfp.js';
import type { ICompileOptions } from '../core/compile/options.js';
import type { IPlan } from '../core/plan.js';
import { isCompilable } from '../core/plan.js';
import type { IRunRecord, RunEvent } from '../core/runs.js';
import { followKfpRun, submitKfpRun } from '../server/kfp/run.js';
import type { IKubeObject } from '../server/kube/client.js';
import { followWorkflow, runStartedEvent } from '../server/kube/monitor.js';
import { RunRecordStore } from '../server/kube/record.js';
import type { WorkspaceMode } from '../server/kube/submit.js';
import { dnsLabel, newRunRecord, submitWorkflow } from '../server/kube/submit.js';
import type { IWorkspaceVolume } from '../server/kube/workspace.js';
import { parseSnapshotPvc, planWorkspace, readNotebookPod } from '../server/kube/workspace.js';
import {
  CLUSTER_OPTIONS,
  CLUSTER_OPTIONS_USAGE,
  connect,
  connectKfp,
  KFP_OPTIONS,
  KFP_OPTIONS_USAGE,
  progress,
  reportError
} from './cluster.js';
import { parameterOverrides, splitParamArgs, valueDigestArg } from './args.js';
import { CommandError, formatDiagnostic, readNotebookFile } from './notebookfile.js';

export const SUBMIT_USAGE = `usage: chard submit NOTEBOOK [OPTIONS]

Run the notebook's pipeline on the cluster. The workspace volumes (the notebook pod's PVCs
in-cluster, else the notebook's volumes or --snapshot-pvc) are snapshotted and every step
mounts a volume restored from the snapshot where the notebook had it.
  --via argo|kfp             submit an Argo Workflow (default) or a Kubeflow Pipelines run
  --watch                    follow the run to its end, printing each step's log
  --param NAME=VALUE         override a pipeline parameter (repeatable)
  --image REF                image for steps without an image: tag
  --value-digest D           how values passed between steps are verified: crc32 (default) or
                             sha256 (the manifest's sha256 is the file's; slower)
  --snapshot-pvc NAME[:PATH] snapshot this PVC, mounted at PATH (repeatable)
  --snapshot-class NAME      VolumeSnapshotClass (default: the notebook's setting, else the cluster default)
  --snapshot-timeout SECONDS how long to wait for snapshots to be ready (default 600)
  --live-pvc, --no-snapshot  mount the live PVCs read-only instead (ReadOnlyMany/ReadWriteMany only)
  --no-workspace             run without the workspace volumes
${KFP_OPTIONS_USAGE}
  --experiment NAME          KFP experiment (default: the notebook's experiment)
${CLUSTER_OPTIONS_USAGE}`;

const SUBMIT_OPTIONS = {
  ...CLUSTER_OPTIONS,
  via: { type: 'string' },
  watch: { type: 'boolean' },
  param: { type: 'string', multiple: true },
  image: { type: 'string' },
  'value-digest': { type: 'string' },
  'snapshot-pvc': { type: 'string', multiple: true },
  'snapshot-class': { type: 'string' },
  'snapshot-timeout': { type: 'string' },
  'live-pvc': { type: 'boolean' },
  'no-snapshot': { type: 'boolean' },
  'no-workspace': { type: 'boolean' },
  ...KFP_OPTIONS,
  experiment: { type: 'string' }
} as const;

/** Prints events: JSON lines, or step logs on stdout and progress on stderr. */
function printer(json: boolean): (event: RunEvent) => void {
  return event => {
    if (json) {
      process.stdout.write(`${JSON.stringify(event)}\n`);
      return;
    }
    switch (event.event) {
      case 'log':
        process.stdout.write(`[${event.step}] ${event.line}\n`);
        break;
      case 'step-started':
        progress(`step ${event.step} started`);
        break;
      case 'step-finished':
        progress(`step ${event.step} ${event.status}${event.message ? `: ${event.message}` : ''}`);
        break;
      case 'progress':
        break; // already reported through onProgress
      case 'run-finished':
        process.stdout.write(
          `run ${event.run} ${event.status}${event.message ? `: ${event.message}` : ''}\n`
        );
        break;
      default:
        break;
    }
  };
}

export async function submitCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: SUBMIT_OPTIONS });
  } catch (error) {
    process.stderr.write(`chard: ${(error as Error).message}\n${SUBMIT_USAGE}\n`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`${SUBMIT_USAGE}\n`);
    return 0;
  }
  const via = v.via ?? 'argo';
  const usage = (message: string): number => {
    process.stderr.write(`chard: ${message}\n${SUBMIT_USAGE}\n`);
    return 2;
  };
  if (parsed.positionals.length !== 1) {
    return usage('submit takes exactly one NOTEBOOK');
  }
  if (via !== 'argo' && via !== 'kfp') {
    return usage(`--via must be argo or kfp, not ${JSON.stringify(via)}`);
  }
  const valueDigest = valueDigestArg(v['value-digest'], SUBMIT_USAGE);
  let params: [string, string][];
  try {
    params = splitParamArgs(v.param ?? []);
  } catch (error) {
    return reportError(error);
  }
  let timeoutMs = 600000;
  if (v['snapshot-timeout'] !== undefined) {
    const seconds = Number(v['snapshot-timeout']);
    if (!Number.isFinite(seconds) || seconds <= 0) {
      return usage('--snapshot-timeout takes a number of seconds');
    }
    timeoutMs = seconds * 1000;
  }
  const live = v['live-pvc'] === true || v['no-snapshot'] === true;
  if (live && v['no-workspace']) {
    return usage('--live-pvc and --no-workspace exclude each other');
  }
  const json = v.json === true;
  const notebook = parsed.positionals[0];
  const onEvent = printer(json);
  const onProgress = (message: string): void => {
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ event: 'progress', run: '', time: new Date().toISOString(), message })}\n`
      );
    } else {
      progress(message);
    }
  };
  try {
    const nb = await readNotebookFile(notebook);
    let plan = await analyzeNotebookInParallel(nb, { fileName: path.basename(notebook) });
    if (!isCompilable(plan)) {
      for (const d of plan.diagnostics) {
        process.stderr.write(`${formatDiagnostic(notebook, d)}\n`);
      }
      throw new CommandError(`${notebook}: the notebook has errors; fix them before submitting`);
    }
    const values = parameterOverrides(plan, params);
    plan = {
      ...plan,
      parameters: plan.parameters.map(p => (p.name in values ? { ...p, value: values[p.name] } : p))
    };
    const store = RunRecordStore.forNotebook(notebook);
    const mode: WorkspaceMode = v['no-workspace'] ? 'none' : live ? 'live' : 'snapshot';
    if (via === 'kfp') {
      return await submitKfp(plan, notebook, v, { json, onEvent, onProgress, store });
    }
    const { config, client } = connect(v);
    onProgress(
      `cluster ${config.inCluster ? '(in-cluster)' : `context "${config.context}"`}, ` +
        `namespace "${config.namespace}" (${config.namespaceSource})`
    );
    let workspace: IWorkspaceVolume[] = [];
    let notebookImage: string | undefined;
    if (mode !== 'none') {
      if (v['snapshot-pvc'] && v['snapshot-pvc'].length > 0) {
        workspace = parseSnapshotPvc(v['snapshot-pvc'], plan);
      } else if (config.inCluster && config.podName) {
        const pod = await readNotebookPod(client, config.podName);
        workspace = pod.volumes;
        notebookImage = pod.image ?? undefined;
        onProgress(
          `notebook pod "${pod.name}": image ${pod.image ?? 'unknown'}, ` +
            `volumes ${pod.volumes.map(w => `${w.pvc}:${w.mountPath}`).join(', ') || 'none'}`
        );
      } else {
        workspace = planWorkspace(plan);
      }
    }
    const compileOptions: ICompileOptions = {};
    if (v.image) {
      compileOptions.image = v.image;
    }
    if (valueDigest !== undefined) {
      compileOptions.valueDigest = valueDigest;
    }
    if (notebookImage) {
      compileOptions.notebookImage = notebookImage;
    }
    const compile = (p: IPlan): IKubeObject =>
      compileArgo(p, compileOptions).documents[0] as IKubeObject;
    const result = await submitWorkflow({
      client,
      plan,
      notebook,
      compile,
      workspace,
      mode,
      snapshotClass: v['snapshot-class'] ?? plan.pipeline.chard.snapshotClass,
      snapshotTimeoutMs: timeoutMs,
      context: config.context,
      onProgress
    });
    const record = result.record;
    const existing = result.attached ? store.readRecord(record.id) : null;
    await store.writeRecord(existing ?? record);
    if (!json) {
      process.stdout.write(`${record.id}\n`);
    }
    if (!v.watch) {
      if (json) {
        onEvent(runStartedEvent(record));
      }
      return 0;
    }
    const final = await followWorkflow(client, record, {
      store,
      onEvent,
      onProgress: json ? undefined : progress
    });
    return final.status === 'succeeded' ? 0 : 1;
  } catch (error) {
    return reportError(error);
  }
}

type SubmitValues = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof SUBMIT_OPTIONS }>
>['values'];

async function submitKfp(
  plan: IPlan,
  notebook: string,
  v: SubmitValues,
  io: {
    json: boolean;
    onEvent: (e: RunEvent) => void;
    onProgress: (m: string) => void;
    store: RunRecordStore;
  }
): Promise<number> {
  const kfp = connectKfp(v, plan.pipeline.chard.kfpEndpoint, io.onProgress);
  const compiled = compileKfp(plan, {
    ...(v.image ? { image: v.image } : {}),
    ...(v['value-digest'] !== undefined ? { valueDigest: valueDigestArg(v['value-digest']) } : {})
  });
  const namespace = v.namespace;
  const result = await submitKfpRun(kfp, {
    pipelineName: plan.pipeline.name,
    specYaml: compiled.text,
    experiment: v.experiment || plan.pipeline.experiment || 'Default',
    namespace,
    runPrefix: dnsLabel(plan.pipeline.id || plan.pipeline.name, 40),
    parameters: Object.fromEntries(plan.parameters.map(p => [p.name, p.value])),
    description: plan.pipeline.description,
    onProgress: io.onProgress
  });
  const record: IRunRecord = newRunRecord(
    plan,
    result.runName,
    notebook,
    { kfpRunId: result.runId, kfpEndpoint: kfp.endpoint, ...(namespace ? { namespace } : {}) },
    'kfp'
  );
  await io.store.writeRecord(record);
  if (!io.json) {
    process.stdout.write(`${record.id}\n`);
  }
  if (!v.watch) {
    return 0;
  }
  const final = await followKfpRun(kfp, record, { onEvent: io.onEvent, store: io.store });
  return final.status === 'succeeded' ? 0 : 1;
}
