/**
 * Cluster errors as one-line messages that say what was refused: the verb, the resource, the
 * namespace and the server's reason. Server bodies are Kubernetes `Status` objects.
 */
import { isRecord } from '../../core/notebook.js';
import type { IFailure } from '../common/retry.js';
import { parseRetryAfter } from '../common/retry.js';

export type KubeVerb = 'get' | 'list' | 'watch' | 'create' | 'patch' | 'delete';

/** What a call was doing, for messages and for the RBAC check. */
export interface IKubeOperation {
  verb: KubeVerb;
  /** `workflows.argoproj.io`, `pods`, `pods/log` ... */
  resource: string;
  namespace: string;
  name?: string;
}

/** A failed cluster call. `status` is the HTTP status (null for transport errors). */
export class KubeApiError extends Error {
  readonly status: number | null;
  readonly reason: string | null;
  readonly operation: IKubeOperation;
  readonly retryAfterSeconds: number | null;
  readonly code: string | null;
  constructor(
    message: string,
    operation: IKubeOperation,
    status: number | null,
    reason: string | null,
    code: string | null = null,
    retryAfterSeconds: number | null = null
  ) {
    super(message);
    this.name = 'KubeApiError';
    this.operation = operation;
    this.status = status;
    this.reason = reason;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  get failure(): IFailure {
    return { status: this.status, retryAfterSeconds: this.retryAfterSeconds, code: this.code };
  }
}

/** The parts of a Kubernetes `Status` body Chard reads. */
export interface IStatusBody {
  reason: string | null;
  message: string | null;
  causes: string[];
}

/** Read a `Status` body (a JSON string or an object); null when it is not one. */
export function parseStatusBody(body: unknown): IStatusBody | null {
  let data = body;
  if (typeof body === 'string') {
    try {
      data = JSON.parse(body);
    } catch {
      return null;
    }
  }
  if (!isRecord(data) || (data.kind !== undefined && data.kind !== 'Status')) {
    return null;
  }
  const details = isRecord(data.details) ? data.details : {};
  const causes = Array.isArray(details.causes)
    ? details.causes
        .filter(isRecord)
        .map(c =>
          [
            typeof c.field === 'string' ? c.field : '',
            typeof c.message === 'string' ? c.message : ''
          ]
            .filter(s => s.length > 0)
            .join(': ')
        )
        .filter(s => s.length > 0)
    : [];
  return {
    reason: typeof data.reason === 'string' ? data.reason : null,
    message: typeof data.message === 'string' ? oneLine(data.message) : null,
    causes
  };
}

export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function where(op: IKubeOperation): string {
  const target = op.name ? `${op.resource} "${op.name}"` : op.resource;
  return `${target} in namespace "${op.namespace}"`;
}

/** Build the error for an HTTP failure of `op`. */
export function httpError(
  op: IKubeOperation,
  status: number,
  body: unknown,
  headers: Record<string, string> = {}
): KubeApiError {
  const parsed = parseStatusBody(body);
  const reason = parsed?.reason ?? null;
  const detail = parsed?.message ? `: ${parsed.message}` : '';
  const retryAfter = parseRetryAfter(headers['retry-after'] ?? headers['Retry-After']);
  let message: string;
  switch (status) {
    case 401:
      message =
        `unauthorized (401): the cluster rejected Chard's credentials when it tried to ${op.verb} ` +
        `${where(op)}; the token or kubeconfig user is invalid or expired`;
      break;
    case 403:
      message =
        `forbidden (403): not allowed to ${op.verb} ${where(op)}` +
        `${detail}; grant it with deploy/rbac.yaml`;
      break;
    case 404:
      message = `not found (404): ${op.verb} ${where(op)}${detail}`;
      break;
    case 409:
      message = `conflict (409): ${op.verb} ${where(op)}${detail}`;
      break;
    case 422: {
      const causes = parsed?.causes.length ? ` (${parsed.causes.join('; ')})` : '';
      message = `invalid (422): the cluster rejected ${op.verb} ${where(op)}${detail}${causes}`;
      break;
    }
    case 429:
      message = `too many requests (429): ${op.verb} ${where(op)}; the API server is throttling`;
      break;
    default:
      message = `HTTP ${status} from the API server: ${op.verb} ${where(op)}${detail}`;
  }
  return new KubeApiError(message, op, status, reason, null, retryAfter);
}

/** What to install for the custom resources Chard uses, by API group. */
const PROVIDERS: Record<string, string> = {
  'argoproj.io': 'Argo Workflows',
  'snapshot.storage.k8s.io': 'the CSI external-snapshotter (VolumeSnapshot CRDs)',
  'tensorboard.kubeflow.org': "Kubeflow's Tensorboard controller"
};

/**
 * The error for a custom resource the API server does not serve (its CRD is not installed): a
 * real server answers such a request with a plain-text `404 page not found`, which says nothing
 * about the object, so this is only used once discovery confirmed it.
 */
export function notInstalledError(
  op: IKubeOperation,
  group: string,
  version: string,
  plural: string
): KubeApiError {
  const provider = PROVIDERS[group] ?? `the CRD of ${plural}.${group}`;
  const what = group === 'argoproj.io' ? 'Argo Workflows is' : `${provider} is`;
  return new KubeApiError(
    `${what} not installed in the cluster: the API server does not serve ${group}/${version} ` +
      `${plural} (needed to ${op.verb} ${where(op)}); install ${provider} in the cluster, ` +
      'or ask its administrator to',
    op,
    404,
    'NotInstalled'
  );
}

/** Build the error for a transport failure (no HTTP response). */
export function transportError(op: IKubeOperation, error: unknown): KubeApiError {
  const rec = isRecord(error) ? error : {};
  const name = typeof rec.name === 'string' ? rec.name : '';
  let code = typeof rec.code === 'string' ? rec.code : null;
  if (name === 'AbortError' || name === 'TimeoutError') {
    code = 'TIMEOUT';
  }
  const text = error instanceof Error ? oneLine(error.message) : String(error);
  if (!code && /socket hang up|ECONNRESET/i.test(text)) {
    code = 'ECONNRESET';
  }
  const what = code === 'TIMEOUT' ? 'timed out' : `failed (${code ?? 'network error'})`;
  return new KubeApiError(
    `cannot reach the API server: ${op.verb} ${where(op)} ${what}: ${text}`,
    op,
    null,
    null,
    code
  );
}

/** Classify anything thrown by a cluster call for the retry loop. */
export function failureOf(error: unknown): IFailure | null {
  return error instanceof KubeApiError ? error.failure : null;
}
