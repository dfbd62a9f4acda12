/** The retry policy: what is retried, how long it waits. */
import {
  backoffDelay,
  DEFAULT_RETRY,
  isTransient,
  parseRetryAfter,
  withRetry
} from '../../../src/server/common/retry.js';

describe('retry policy', () => {
  it('retries 429, 5xx and connection failures; never other 4xx', () => {
    for (const status of [429, 500, 502, 503, 504]) {
      expect(isTransient({ status, code: null, retryAfterSeconds: null })).toBe(true);
    }
    for (const status of [400, 401, 403, 404, 409, 410, 422, 501]) {
      expect(isTransient({ status, code: null, retryAfterSeconds: null })).toBe(false);
    }
    expect(isTransient({ status: null, code: 'ECONNRESET', retryAfterSeconds: null })).toBe(true);
    expect(isTransient({ status: null, code: 'TIMEOUT', retryAfterSeconds: null })).toBe(true);
    expect(isTransient({ status: null, code: 'CERT_HAS_EXPIRED', retryAfterSeconds: null })).toBe(
      false
    );
  });

  it('honours Retry-After and backs off exponentially with jitter, capped', () => {
    const f429 = { status: 429, code: null, retryAfterSeconds: 3 };
    expect(backoffDelay(1, f429, DEFAULT_RETRY, () => 0)).toBe(3000);
    const f500 = { status: 500, code: null, retryAfterSeconds: null };
    const policy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(1, f500, policy, () => 0)).toBe(50);
    expect(backoffDelay(3, f500, policy, () => 1)).toBe(400);
    expect(backoffDelay(10, f500, policy, () => 1)).toBe(1000);
    expect(parseRetryAfter('7')).toBe(7);
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3);
    expect(parseRetryAfter('soon')).toBeNull();
  });

  it('stops at the first permanent failure and after the last attempt', async () => {
    let calls = 0;
    const classify = (e: unknown) => e as { status: number; code: null; retryAfterSeconds: null };
    const policy = { ...DEFAULT_RETRY, baseDelayMs: 1, attempts: 4 };
    await expect(
      withRetry(
        async () => {
          calls++;
          throw { status: 403, code: null, retryAfterSeconds: null };
        },
        classify,
        policy
      )
    ).rejects.toMatchObject({ status: 403 });
    expect(calls).toBe(1);
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw { status: 503, code: null, retryAfterSeconds: null };
        },
        classify,
        policy
      )
    ).rejects.toMatchObject({ status: 503 });
    expect(calls).toBe(4);
  });
});
