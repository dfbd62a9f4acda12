/**
 * The Kubeflow Pipelines backend of the run service: uploads the compiled spec and creates a
 * run (run.ts), follows it by polling, and terminates it. The KFP API serves no step logs.
 */
import * as fs from 'node:fs';

import type { IKfpRunOptions } from '../../core/api.js';
import { compileKfp } from '../../core/compile/kfp.js';
import { dnsLabel } from '../../core/names.js';
import { planWithParameterValues } from '../../core/plan.js';
import type { IRunRecord } from '../../core/runs.js';
import { runStartedEvent } from '../../core/runs.js';
import { newRunRecord } from '../common/records.js';
import { RunRecordStore } from '../common/store.js';
import { ServiceError } from '../service/errors.js';
import type {
  IClusterAccess,
  ILogChunk,
  IRunBackend,
  IRunHooks,
  IRunLocation,
  IStartedRun,
  IStartInput,
  RunBackendApi
} from '../service/types.js';
import type { IKfpClient } from './client.js';
import { createKfpClient } from './client.js';
import { followKfpRun, submitKfpRun } from './run.js';

export class KfpBackend implements IRunBackend {
  readonly name = 'kfp' as const;

  constructor(private readonly _onRetry: (message: string) => void = () => undefined) {}

  async start(
    input: IStartInput,
    hooks: IRunHooks,
    options: RunBackendApi.IStartOptions
  ): Promise<IStartedRun> {
    const { request } = input;
    const kfpOptions: IKfpRunOptions = request.kfp ?? {};
    const plan = planWithParameterValues(input.plan, request.parameters ?? {});
    const kfp = this.connect(
      { kfpEndpoint: kfpOptions.endpoint, kfpTokenFile: kfpOptions.tokenFile },
      plan.pipeline.chard.kfpEndpoint,
      hooks.progress
    );
    const compiled = compileKfp(plan, {
      ...(kfpOptions.image ? { image: kfpOptions.image } : {}),
      ...(kfpOptions.valueDigest !== undefined ? { valueDigest: kfpOptions.valueDigest } : {})
    });
    const namespace = kfpOptions.namespace;
    const result = await submitKfpRun(kfp, {
      pipelineName: plan.pipeline.name,
      specYaml: compiled.text,
      experiment: kfpOptions.experiment || plan.pipeline.experiment || 'Default',
      namespace,
      runPrefix: dnsLabel(plan.pipeline.id || plan.pipeline.name, 40, 'notebook'),
      parameters: Object.fromEntries(plan.parameters.map(p => [p.name, p.value])),
      description: plan.pipeline.description,
      onProgress: hooks.progress
    });
    const record: IRunRecord = newRunRecord(
      plan,
      result.runName,
      request.notebook,
      { kfpRunId: result.runId, kfpEndpoint: kfp.endpoint, ...(namespace ? { namespace } : {}) },
      'kfp'
    );
    const store = RunRecordStore.forNotebook(request.notebook);
    await store.writeRecord(record);
    const dir = store.runDir(record.id);
    hooks.created(dir, record);
    hooks.event(runStartedEvent(record));
    const done =
      options.follow === false
        ? Promise.resolve(record)
        : Private.follow(kfp, record, store, hooks);
    return { dir, record, done };
  }

  async follow(run: IRunLocation, hooks: IRunHooks): Promise<IRunRecord> {
    const kfp = this.connect({}, run.record.cluster?.kfpEndpoint);
    return Private.follow(kfp, run.record, Private.storeOf(run), hooks);
  }

  async cancel(
    run: IRunLocation,
    options: RunBackendApi.ICancelOptions
  ): Promise<RunBackendApi.ICancelResult> {
    const id = run.record.cluster?.kfpRunId;
    if (!id) {
      throw new ServiceError(`run ${run.record.id} names no Kubeflow Pipelines run`);
    }
    const kfp = this.connect(options.cluster ?? {}, run.record.cluster?.kfpEndpoint);
    await kfp.terminateRun(id);
    return { record: run.record, how: 'requested' };
  }

  // eslint-disable-next-line require-yield
  async *logs(run: IRunLocation): AsyncGenerator<ILogChunk> {
    const id = run.record.cluster?.kfpRunId ?? 'unknown';
    throw new ServiceError(
      `run ${run.record.id} ran on Kubeflow Pipelines, whose API serves no step logs: open it in the ` +
        `Kubeflow Pipelines UI (Runs > "${run.record.id}", or #/runs/details/${id} on the Pipelines UI)`
    );
  }

  /**
   * A client for the endpoint asked for, else `fallback` (the run's or the notebook's), else
   * CHARD_KFP_ENDPOINT; a usage error when there is none.
   */
  connect(
    access: IClusterAccess,
    fallback: string | undefined,
    onRetry: (message: string) => void = this._onRetry
  ): IKfpClient {
    const endpoint = access.kfpEndpoint ?? fallback ?? process.env.CHARD_KFP_ENDPOINT;
    if (!endpoint) {
      throw new ServiceError(
        'Kubeflow Pipelines needs an endpoint: pass --kfp-endpoint URL ' +
          '(in a Kubeflow notebook: http://ml-pipeline.kubeflow:8888) or set CHARD_KFP_ENDPOINT',
        true
      );
    }
    const tokenFile = access.kfpTokenFile;
    if (tokenFile && !fs.existsSync(tokenFile)) {
      throw new ServiceError(`--kfp-token-file ${tokenFile}: no such file`, true);
    }
    return createKfpClient({ endpoint, tokenFile, onRetry });
  }
}

namespace Private {
  export function storeOf(run: IRunLocation): RunRecordStore {
    return new RunRecordStore(run.dir.replace(/[/\\]runs[/\\][^/\\]+[/\\]?$/, ''));
  }

  export function follow(
    kfp: IKfpClient,
    record: IRunRecord,
    store: RunRecordStore,
    hooks: IRunHooks
  ): Promise<IRunRecord> {
    return followKfpRun(kfp, record, {
      store,
      onEvent: event => {
        if (event.event !== 'run-started') {
          hooks.event(event);
        }
      }
    });
  }
}
