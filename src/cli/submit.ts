/**
 * `chard submit NOTEBOOK`: run a notebook's pipeline on the cluster (Argo Workflows, default,
 * or Kubeflow Pipelines), with the notebook's workspace volumes snapshotted and mounted in every
 * step; `--watch` follows the run to its end, printing each step's log.
 */
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
import { parseCommandArgs, splitParamArgs, valueDigestArg } from './args.js';
import { CommandError } from './notebookfile.js';
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

/** `chard submit`: check the options, start the run on the cluster, and follow it with --watch. */
export async function submitCommand(argv: string[]): Promise<number> {
  let parsed;
  let request: IStartRunRequest;
  try {
    parsed = parseCommandArgs(argv, SUBMIT_USAGE, SUBMIT_OPTIONS);
    if (parsed.values.help) {
      process.stdout.write(`${SUBMIT_USAGE}\n`);
      return 0;
    }
    if (parsed.positionals.length !== 1) {
      throw Private.usage('submit takes exactly one NOTEBOOK');
    }
    request = Private.startRequest(parsed.values, parsed.positionals[0]);
  } catch (error) {
    return reportError(error);
  }
  const { values: v, positionals } = parsed;
  const notebook = positionals[0];
  const json = v.json === true;
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

namespace Private {
  type Values = ReturnType<typeof parseCommandArgs<typeof SUBMIT_OPTIONS>>['values'];

  /** A usage error: exit code 2, with the command's usage. */
  export function usage(message: string): CommandError {
    return new CommandError(`${message}\n${SUBMIT_USAGE}`, 2);
  }

  /** What to start, from the command line: an Argo Workflow or a KFP run. */
  export function startRequest(v: Values, notebook: string): IStartRunRequest {
    const via = v.via ?? 'argo';
    if (via !== 'argo' && via !== 'kfp') {
      throw usage(`--via must be argo or kfp, not ${JSON.stringify(via)}`);
    }
    const valueDigest = valueDigestArg(v['value-digest'], SUBMIT_USAGE);
    const parameters = Object.fromEntries(splitParamArgs(v.param ?? []));
    let timeoutSeconds = 600;
    if (v['snapshot-timeout'] !== undefined) {
      timeoutSeconds = Number(v['snapshot-timeout']);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
        throw usage('--snapshot-timeout takes a number of seconds');
      }
    }
    const live = v['live-pvc'] === true || v['no-snapshot'] === true;
    if (live && v['no-workspace']) {
      throw usage('--live-pvc and --no-workspace exclude each other');
    }
    const mode: WorkspaceMode = v['no-workspace'] ? 'none' : live ? 'live' : 'snapshot';
    if (via === 'kfp') {
      return {
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
      };
    }
    return {
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
        snapshotTimeoutSeconds: timeoutSeconds,
        snapshotPvc: v['snapshot-pvc']
      }
    };
  }
}
