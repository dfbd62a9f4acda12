/**
 * Kubeflow Pipelines v2beta1 REST API behind a small interface: create a pipeline, upload a
 * version of it, find or create the experiment, create a run, poll it, terminate it. One place
 * retries (the shared policy), times out and turns failures into one-line messages.
 */
import { isRecord } from '../../core/notebook.js';
import * as fs from 'node:fs';
import type { IFailure, IRetryPolicy } from '../common/retry.js';
import { DEFAULT_RETRY, parseRetryAfter, withRetry } from '../common/retry.js';

/** A failed KFP call, one line. */
export class KfpError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly failure: IFailure | null = null
  ) {
    super(message);
    this.name = 'KfpError';
  }
}

export interface IKfpPipeline {
  pipeline_id: string;
  display_name: string;
}

export interface IKfpPipelineVersion {
  pipeline_id: string;
  pipeline_version_id: string;
  display_name: string;
}

export interface IKfpExperiment {
  experiment_id: string;
  display_name: string;
  namespace?: string;
}

export interface IKfpTaskDetail {
  task_id?: string;
  display_name?: string;
  state?: string;
  start_time?: string;
  end_time?: string;
  error?: { message?: string };
}

export interface IKfpRun {
  run_id: string;
  display_name: string;
  experiment_id?: string;
  state?: string;
  created_at?: string;
  finished_at?: string;
  error?: { message?: string };
  run_details?: { task_details?: IKfpTaskDetail[] };
}

export interface IKfpClient {
  readonly endpoint: string;
  findPipeline(name: string, namespace?: string): Promise<IKfpPipeline | null>;
  /** A pipeline without versions (its versions are uploaded with names of our choosing). */
  createPipeline(name: string, description?: string, namespace?: string): Promise<IKfpPipeline>;
  findVersion(pipelineId: string, name: string): Promise<IKfpPipelineVersion | null>;
  uploadVersion(pipelineId: string, name: string, specYaml: string): Promise<IKfpPipelineVersion>;
  findExperiment(name: string, namespace?: string): Promise<IKfpExperiment | null>;
  createExperiment(name: string, namespace?: string): Promise<IKfpExperiment>;
  findRun(experimentId: string, displayName: string): Promise<IKfpRun | null>;
  createRun(body: Record<string, unknown>): Promise<IKfpRun>;
  getRun(runId: string): Promise<IKfpRun>;
  terminateRun(runId: string): Promise<void>;
}

export namespace KfpClient {
  export interface IOptions {
    /** `http(s)://host[:port][/prefix]` of the ml-pipeline API (or the Kubeflow gateway). */
    endpoint: string;
    /** Bearer token (e.g. the projected KFP service-account token); never logged. */
    token?: string;
    /** Read the token from this file at every request (rotated tokens keep working). */
    tokenFile?: string;
    retry?: Partial<IRetryPolicy>;
    onRetry?: (message: string) => void;
  }
}

export function createKfpClient(options: KfpClient.IOptions): IKfpClient {
  return new Private.Client(options);
}

/** A v2beta1 filter on one string field (`display_name` ...). */
export function equalsFilter(key: string, value: string): string {
  return JSON.stringify({ predicates: [{ key, operation: 'EQUALS', string_value: value }] });
}

namespace Private {
  export class Client implements IKfpClient {
    readonly endpoint: string;
    private readonly _policy: IRetryPolicy;

    constructor(private readonly _options: KfpClient.IOptions) {
      let url: URL;
      try {
        url = new URL(_options.endpoint);
      } catch {
        throw new KfpError(
          `--kfp-endpoint ${JSON.stringify(_options.endpoint)} is not a URL`,
          null
        );
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new KfpError(`--kfp-endpoint must be an http(s) URL`, null);
      }
      url.username = '';
      url.password = '';
      this.endpoint = url.toString().replace(/\/$/, '');
      this._policy = { ...DEFAULT_RETRY, ...this._options.retry };
    }

    private _headers(): Record<string, string> {
      let token = this._options.token;
      if (this._options.tokenFile) {
        token = fs.readFileSync(this._options.tokenFile, 'utf-8').trim();
      }
      return token ? { authorization: `Bearer ${token}` } : {};
    }

    /** The one place every call goes through. `retry: false` for non-idempotent calls. */
    private async _request<T>(
      what: string,
      method: string,
      path: string,
      init: {
        query?: Record<string, string | undefined>;
        json?: unknown;
        form?: FormData;
        retry?: boolean;
      } = {}
    ): Promise<T> {
      const url = new URL(this.endpoint + path);
      for (const [k, v] of Object.entries(init.query ?? {})) {
        if (v !== undefined) {
          url.searchParams.set(k, v);
        }
      }
      const policy = init.retry === false ? { ...this._policy, attempts: 1 } : this._policy;
      return withRetry(
        async () => {
          const headers: Record<string, string> = {
            accept: 'application/json',
            ...this._headers()
          };
          let body: string | FormData | undefined;
          if (init.json !== undefined) {
            headers['content-type'] = 'application/json';
            body = JSON.stringify(init.json);
          } else if (init.form) {
            body = init.form;
          }
          let response: Response;
          try {
            response = await fetch(url, {
              method,
              headers,
              body,
              signal: AbortSignal.timeout(this._policy.timeoutMs)
            });
          } catch (error) {
            const rec = isRecord(error) ? error : {};
            const cause = isRecord(rec.cause) ? rec.cause : {};
            const name = typeof rec.name === 'string' ? rec.name : '';
            const code =
              name === 'TimeoutError' || name === 'AbortError'
                ? 'TIMEOUT'
                : typeof cause.code === 'string'
                  ? cause.code
                  : 'ECONNRESET';
            throw new KfpError(
              `cannot reach Kubeflow Pipelines at ${this.endpoint}: ${what} failed (${code})`,
              null,
              { status: null, code, retryAfterSeconds: null }
            );
          }
          const text = await response.text();
          if (!response.ok) {
            let detail = '';
            try {
              const data: unknown = JSON.parse(text);
              if (isRecord(data) && typeof data.message === 'string') {
                detail = `: ${data.message.replace(/\s+/g, ' ').trim()}`;
              } else if (isRecord(data) && typeof data.error === 'string') {
                detail = `: ${data.error.replace(/\s+/g, ' ').trim()}`;
              }
            } catch {
              detail = text ? `: ${text.replace(/\s+/g, ' ').trim().slice(0, 200)}` : '';
            }
            const status = response.status;
            const hint =
              status === 401 || status === 403
                ? ` (not allowed to ${what}; check the KFP token / your Kubeflow profile access)`
                : '';
            throw new KfpError(
              `Kubeflow Pipelines: ${what} failed with HTTP ${status}${detail}${hint}`,
              status,
              {
                status,
                code: null,
                retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after'))
              }
            );
          }
          if (!text) {
            return {} as T;
          }
          try {
            return JSON.parse(text) as T;
          } catch {
            throw new KfpError(
              `Kubeflow Pipelines: ${what} returned something that is not JSON`,
              response.status
            );
          }
        },
        error => (error instanceof KfpError ? error.failure : null),
        policy,
        (failure, attempt, delay) =>
          this._options.onRetry?.(
            `KFP ${what}: ${failure.status ?? failure.code}, retrying in ${(delay / 1000).toFixed(1)}s ` +
              `(attempt ${attempt + 1} of ${policy.attempts})`
          )
      );
    }

    private _form(specYaml: string): FormData {
      const form = new FormData();
      form.append(
        'uploadfile',
        new Blob([specYaml], { type: 'application/x-yaml' }),
        'pipeline.yaml'
      );
      return form;
    }

    async findPipeline(name: string, namespace?: string): Promise<IKfpPipeline | null> {
      const data = await this._request<{ pipelines?: IKfpPipeline[] }>(
        `find pipeline "${name}"`,
        'GET',
        '/apis/v2beta1/pipelines',
        {
          query: { filter: equalsFilter('display_name', name), namespace, page_size: '10' }
        }
      );
      return (data.pipelines ?? []).find(p => p.display_name === name) ?? null;
    }

    async createPipeline(
      name: string,
      description?: string,
      namespace?: string
    ): Promise<IKfpPipeline> {
      return this._request<IKfpPipeline>(
        `create pipeline "${name}"`,
        'POST',
        '/apis/v2beta1/pipelines',
        { json: { display_name: name, description, namespace } }
      );
    }

    async findVersion(pipelineId: string, name: string): Promise<IKfpPipelineVersion | null> {
      const data = await this._request<{ pipeline_versions?: IKfpPipelineVersion[] }>(
        `find pipeline version "${name}"`,
        'GET',
        `/apis/v2beta1/pipelines/${encodeURIComponent(pipelineId)}/versions`,
        { query: { filter: equalsFilter('display_name', name), page_size: '10' } }
      );
      return (data.pipeline_versions ?? []).find(v => v.display_name === name) ?? null;
    }

    async uploadVersion(
      pipelineId: string,
      name: string,
      specYaml: string
    ): Promise<IKfpPipelineVersion> {
      return this._request<IKfpPipelineVersion>(
        `upload pipeline version "${name}"`,
        'POST',
        '/apis/v2beta1/pipelines/upload_version',
        {
          query: { pipelineid: pipelineId, name, display_name: name },
          form: this._form(specYaml)
        }
      );
    }

    async findExperiment(name: string, namespace?: string): Promise<IKfpExperiment | null> {
      const data = await this._request<{ experiments?: IKfpExperiment[] }>(
        `find experiment "${name}"`,
        'GET',
        '/apis/v2beta1/experiments',
        {
          query: { filter: equalsFilter('display_name', name), namespace, page_size: '10' }
        }
      );
      return (data.experiments ?? []).find(e => e.display_name === name) ?? null;
    }

    async createExperiment(name: string, namespace?: string): Promise<IKfpExperiment> {
      return this._request<IKfpExperiment>(
        `create experiment "${name}"`,
        'POST',
        '/apis/v2beta1/experiments',
        {
          json: namespace ? { display_name: name, namespace } : { display_name: name }
        }
      );
    }

    async findRun(experimentId: string, displayName: string): Promise<IKfpRun | null> {
      const data = await this._request<{ runs?: IKfpRun[] }>(
        `find run "${displayName}"`,
        'GET',
        '/apis/v2beta1/runs',
        {
          query: {
            experiment_id: experimentId,
            filter: equalsFilter('display_name', displayName),
            page_size: '10'
          }
        }
      );
      return (data.runs ?? []).find(r => r.display_name === displayName) ?? null;
    }

    async createRun(body: Record<string, unknown>): Promise<IKfpRun> {
      // Not retried here: a retry could create a second run. The caller looks for the run first.
      return this._request<IKfpRun>('create run', 'POST', '/apis/v2beta1/runs', {
        json: body,
        retry: false
      });
    }

    async getRun(runId: string): Promise<IKfpRun> {
      return this._request<IKfpRun>(
        `get run ${runId}`,
        'GET',
        `/apis/v2beta1/runs/${encodeURIComponent(runId)}`
      );
    }

    async terminateRun(runId: string): Promise<void> {
      await this._request<unknown>(
        `terminate run ${runId}`,
        'POST',
        `/apis/v2beta1/runs/${encodeURIComponent(runId)}:terminate`
      );
    }
  }
}
