/**
 * Submitting a compiled KFP pipeline spec as a Kubeflow Pipelines run, and following it by
 * polling. The pipeline is created once; each distinct spec is uploaded once, as a version named
 * by its content hash; the run lands in the notebook's experiment; and a retried or repeated
 * submit of the same content attaches to the unfinished run of the same name instead of creating
 * another.
 */
import { createHash } from 'node:crypto';
import type { ParameterValue } from '../../core/plan.js';
import type { IRunRecord, IStepRecord, RunEvent, RunStatus, StepStatus } from '../../core/runs.js';
import { diffEvents, isFinished, isSuccess, runStartedEvent } from '../../core/runs.js';
import type { RunRecordStore } from '../common/store.js';
import { sleep } from '../common/retry.js';
import type { IKfpClient, IKfpRun } from './client.js';
import { KfpError } from './client.js';

export function kfpRunStatus(state: string | undefined): RunStatus {
  switch (state) {
    case 'RUNNING':
    case 'CANCELING':
    case 'PAUSED':
      return 'running';
    case 'SUCCEEDED':
    case 'SKIPPED':
      return 'succeeded';
    case 'FAILED':
      return 'failed';
    case 'CANCELED':
      return 'cancelled';
    default:
      return 'pending';
  }
}

export function kfpTaskStatus(state: string | undefined): StepStatus {
  switch (state) {
    case 'RUNNING':
      return 'running';
    case 'SUCCEEDED':
      return 'succeeded';
    case 'CACHED':
      return 'cached';
    case 'FAILED':
      return 'failed';
    case 'SKIPPED':
      return 'skipped';
    case 'CANCELED':
      return 'cancelled';
    default:
      return 'pending';
  }
}

export namespace KfpSubmit {
  export interface IOptions {
    pipelineName: string;
    /** The compiled KFP pipeline spec (YAML text). */
    specYaml: string;
    experiment: string;
    namespace?: string;
    /** Run name prefix (the notebook's DNS name). */
    runPrefix: string;
    parameters: Record<string, ParameterValue>;
    description?: string;
    onProgress?: (message: string) => void;
  }

  export interface IResult {
    runId: string;
    runName: string;
    pipelineId: string;
    versionId: string;
    experimentId: string;
    attached: boolean;
  }
}

/** Upload the spec, find/create the experiment, create (or attach to) the run. */
export async function submitKfpRun(
  client: IKfpClient,
  options: KfpSubmit.IOptions
): Promise<KfpSubmit.IResult> {
  const progress = options.onProgress ?? (() => undefined);
  const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
  // The version is the spec alone; the run is the spec with its parameter values.
  const versionName = `${options.pipelineName}-${sha256(options.specYaml).slice(0, 12)}`;
  const hash = sha256(JSON.stringify({ spec: options.specYaml, parameters: options.parameters }));
  let pipeline = await client.findPipeline(options.pipelineName, options.namespace);
  if (!pipeline) {
    progress(`creating pipeline "${options.pipelineName}" on ${client.endpoint}`);
    pipeline = await Private.createOrFind(
      () => client.createPipeline(options.pipelineName, options.description, options.namespace),
      () => client.findPipeline(options.pipelineName, options.namespace)
    );
  }
  // Versions are named by content, the first one too: an identical spec is never uploaded twice.
  const pipelineId = pipeline.pipeline_id;
  let versionId = (await client.findVersion(pipelineId, versionName))?.pipeline_version_id;
  if (versionId === undefined) {
    progress(`uploading pipeline version "${versionName}"`);
    versionId = (
      await Private.createOrFind(
        () => client.uploadVersion(pipelineId, versionName, options.specYaml),
        () => client.findVersion(pipelineId, versionName)
      )
    ).pipeline_version_id;
  }
  const version = versionId;
  let experiment = await client.findExperiment(options.experiment, options.namespace);
  if (!experiment) {
    progress(`creating experiment "${options.experiment}"`);
    experiment = await Private.createOrFind(
      () => client.createExperiment(options.experiment, options.namespace),
      () => client.findExperiment(options.experiment, options.namespace)
    );
  }
  const runBody = (name: string): Record<string, unknown> => ({
    display_name: name,
    experiment_id: experiment.experiment_id,
    pipeline_version_reference: { pipeline_id: pipelineId, pipeline_version_id: version },
    runtime_config: { parameters: options.parameters }
  });
  for (let attempt = 1; attempt <= 1000; attempt++) {
    const name = `${options.runPrefix}-${hash.slice(0, 10)}-${attempt}`;
    const existing = await client.findRun(experiment.experiment_id, name);
    if (existing) {
      if (!isFinished(kfpRunStatus(existing.state))) {
        progress(`attaching to the identical run "${name}" that is already in progress`);
        return {
          runId: existing.run_id,
          runName: name,
          pipelineId,
          versionId: version,
          experimentId: experiment.experiment_id,
          attached: true
        };
      }
      continue;
    }
    progress(`creating run "${name}" in experiment "${options.experiment}"`);
    let run: IKfpRun | null = null;
    for (let tries = 1; ; tries++) {
      try {
        run = await client.createRun(runBody(name));
        break;
      } catch (error) {
        // After a failed create, the run may exist anyway (the response was lost): look first.
        const found = await client.findRun(experiment.experiment_id, name).catch(() => null);
        if (found) {
          run = found;
          break;
        }
        const transient =
          error instanceof KfpError &&
          (error.status === null || error.status === 429 || error.status >= 500);
        if (!transient || tries >= 5) {
          throw error;
        }
        await sleep(250 * 2 ** tries);
      }
    }
    return {
      runId: run.run_id,
      runName: name,
      pipelineId,
      versionId: version,
      experimentId: experiment.experiment_id,
      attached: false
    };
  }
  throw new KfpError('too many runs of the same pipeline content', null);
}

/** Apply a KFP run's state to a run record. Tasks are matched to steps by display name / id. */
export function applyKfpRun(record: IRunRecord, run: IKfpRun): IRunRecord {
  const status = kfpRunStatus(run.state);
  const tasks = run.run_details?.task_details ?? [];
  const steps = record.steps.map((step): IStepRecord => {
    const task = tasks.find(t => t.display_name === step.id || t.display_name === step.name);
    if (!task) {
      return isFinished(status) && !isFinished(step.status)
        ? { ...step, status: status === 'cancelled' ? 'cancelled' : 'skipped' }
        : step;
    }
    let s = kfpTaskStatus(task.state);
    if (isFinished(status) && !isFinished(s)) {
      s = status === 'cancelled' ? 'cancelled' : 'failed';
    }
    return {
      ...step,
      status: s,
      startedAt: task.start_time ?? step.startedAt,
      finishedAt: isFinished(s) ? (task.end_time ?? step.finishedAt) : null,
      message: isSuccess(s) ? null : (task.error?.message ?? step.message)
    };
  });
  return {
    ...record,
    status,
    message: status === 'succeeded' ? null : (run.error?.message ?? record.message),
    finishedAt: isFinished(status) ? (run.finished_at ?? new Date().toISOString()) : null,
    steps
  };
}

export namespace KfpFollow {
  export interface IOptions {
    pollMs?: number;
    onEvent?: (event: RunEvent) => void;
    store?: RunRecordStore;
  }
}

/** Poll a KFP run until it finishes; emits the same events as the Argo monitor. */
export async function followKfpRun(
  client: IKfpClient,
  initial: IRunRecord,
  options: KfpFollow.IOptions = {}
): Promise<IRunRecord> {
  const runId = initial.cluster?.kfpRunId;
  if (!runId) {
    throw new Error('the run record names no KFP run');
  }
  const emit = options.onEvent ?? (() => undefined);
  let record = initial;
  emit(runStartedEvent(record));
  for (;;) {
    const next = applyKfpRun(record, await client.getRun(runId));
    const events = diffEvents(record, next, new Date().toISOString());
    record = next;
    await options.store?.writeRecord(record);
    events.forEach(emit);
    if (isFinished(record.status)) {
      return record;
    }
    await sleep(options.pollMs ?? 5000);
  }
}

namespace Private {
  /**
   * Create something; when it already exists (409: created concurrently, or by a retried request
   * whose first answer was lost) find it instead.
   */
  export async function createOrFind<T>(
    create: () => Promise<T>,
    find: () => Promise<T | null>
  ): Promise<T> {
    try {
      return await create();
    } catch (error) {
      if (!(error instanceof KfpError) || error.status !== 409) {
        throw error;
      }
      const found = await find();
      if (!found) {
        throw error;
      }
      return found;
    }
  }
}
