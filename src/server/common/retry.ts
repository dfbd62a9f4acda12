/**
 * The one retry policy for cluster and KFP calls: transient failures (429 honouring
 * Retry-After, 5xx, connection resets, time-outs) are retried with exponential backoff and
 * full jitter; every other 4xx fails at once.
 */

export interface IRetryPolicy {
  /** Attempts in all (first call included). */
  attempts: number;
  /** First backoff, in ms. */
  baseDelayMs: number;
  /** Longest single backoff, in ms (also caps Retry-After). */
  maxDelayMs: number;
  /** Per-request time-out, in ms. */
  timeoutMs: number;
}

export const DEFAULT_RETRY: IRetryPolicy = {
  attempts: 8,
  baseDelayMs: 250,
  maxDelayMs: 15000,
  timeoutMs: 30000
};

/** What the retry loop needs to know about a failure. */
export interface IFailure {
  /** HTTP status, or null for a transport error. */
  status: number | null;
  /** Retry-After in seconds, when the server sent one. */
  retryAfterSeconds: number | null;
  /** Transport error code (ECONNRESET ...) or 'TIMEOUT'. */
  code: string | null;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'TIMEOUT'
]);

/** Is this failure worth another try? */
export function isTransient(failure: IFailure): boolean {
  if (failure.status === null) {
    return failure.code !== null && TRANSIENT_CODES.has(failure.code);
  }
  return failure.status === 429 || (failure.status >= 500 && failure.status !== 501);
}

/** The delay before attempt `attempt + 1` (attempt counts from 1). */
export function backoffDelay(
  attempt: number,
  failure: IFailure,
  policy: IRetryPolicy,
  random: () => number = Math.random
): number {
  if (failure.status === 429 && failure.retryAfterSeconds !== null) {
    // Honour the server, with a little jitter so a burst of clients does not come back at once.
    const wait = failure.retryAfterSeconds * 1000;
    return Math.min(policy.maxDelayMs, wait + random() * policy.baseDelayMs);
  }
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Parse a Retry-After header (seconds or an HTTP date). */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | null {
  if (!value) {
    return null;
  }
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) {
    return seconds;
  }
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - now) / 1000);
}

export const sleep = (ms: number): Promise<void> =>
  new Promise(resolve => setTimeout(resolve, Math.max(0, ms)));

/**
 * Run `fn` until it succeeds, fails for good, or runs out of attempts. `classify` turns a
 * thrown error into an IFailure (null = not retryable). `onRetry` reports each retry.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  classify: (error: unknown) => IFailure | null,
  policy: IRetryPolicy,
  onRetry?: (failure: IFailure, attempt: number, delayMs: number) => void
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const failure = classify(error);
      if (!failure || !isTransient(failure) || attempt >= policy.attempts) {
        throw error;
      }
      const delay = backoffDelay(attempt, failure, policy);
      onRetry?.(failure, attempt, delay);
      await sleep(delay);
    }
  }
}
