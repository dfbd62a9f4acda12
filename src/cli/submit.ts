/**
 * `chard submit NOTEBOOK`: run a notebook's pipeline on the cluster (Argo Workflows, default,
 * or Kubeflow Pipelines), with the notebook's workspace volumes snapshotted and mounted in every
 * step; `--watch` follows the run to its end, printing each step's log.
 */
import { parseArgs } from 'node:util';
import type { IStartRunRequest, RunEvent, WorkspaceMode } from '../core/index.js';
import { runStartedEvent } from '../core/index.js';
import {
  CLUSTER_OPTIONS,
  CLUSTER_OPTIONS_USAGE,
  KFP_OPTIONS,
  KFP_OPTIONS_USAGE,
  progress,
  reportError
} from './cluster.js';
import { splitParamArgs, valueDigestArg } from './args.js';
import { runService } from './service.js';

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
        progress(event.message);
        break;
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
  const mode: WorkspaceMode = v['no-workspace'] ? 'none' : live ? 'live' : 'snapshot';
  const parameters = Object.fromEntries(params);
  const request: IStartRunRequest =
    via === 'kfp'
      ? {
          notebook,
          target: 'kfp',
          parameters,
          kfp: {
            endpoint: v['kfp-endpoint'],
            tokenFile: v['kfp-token-file'],
            experiment: v.experiment,
            namespace: v.namespace,
            image: v.image,
            valueDigest
          }
        }
      : {
          notebook,
          target: 'argo',
          parameters,
          argo: {
            context: v.context,
            kubeconfig: v.kubeconfig,
            namespace: v.namespace,
            image: v.image,
            valueDigest,
            workspace: mode,
            snapshotClass: v['snapshot-class'],
            snapshotTimeoutSeconds: timeoutMs / 1000,
            snapshotPvc: v['snapshot-pvc']
          }
        };
  try {
    const service = runService();
    const details = await service.start(request, { onProgress, follow: v.watch === true });
    const record = details.record;
    if (!json) {
      process.stdout.write(`${record.id}\n`);
    }
    if (!v.watch) {
      if (json) {
        onEvent(runStartedEvent(record));
      }
      return 0;
    }
    for await (const { event } of service.events(record.id)) {
      onEvent(event);
    }
    const final = await service.wait(record.id);
    return final.status === 'succeeded' ? 0 : 1;
  } catch (error) {
    return reportError(error, notebook);
  }
}
