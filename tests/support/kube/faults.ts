/**
 * Fault injection for the test API server: bursts of error statuses (429 with Retry-After, 500, ...),
 * connection resets, slow responses, watch streams the server drops, and compaction (410).
 */

export interface IFaultRule {
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Substring of the request path + query to match (any when absent). */
  pathIncludes?: string;
  /** Status to answer with; 0 resets the connection without an answer. */
  status: number;
  /** How many matching requests get the fault (default 1). */
  times?: number;
  /** Message/reason in the Status body. */
  reason?: string;
  /** Retry-After seconds for 429 (default 1). */
  retryAfterSeconds?: number;
}

export interface IFaults {
  /** The next matching request(s) get this status instead of being served. */
  next(rule: IFaultRule): void;
  /** From now on, the server closes every watch stream `ms` after it opened (open ones: `ms` from now). */
  dropWatchesAfter(ms: number): void;
  /** Watches (and continue tokens) from a resourceVersion older than this get 410 Expired. */
  compactBefore(resourceVersion: string): void;
  /** Delay every response by `ms`. */
  slow(ms: number): void;
  /** Remove pending rules, watch drops and slowness (compaction stays: it cannot be undone). */
  clear(): void;
}

interface IPendingRule extends IFaultRule {
  remaining: number;
}

/** State the server consults on each request. */
export class FaultState {
  private _rules: IPendingRule[] = [];
  slowMs = 0;
  dropWatchMs: number | undefined;
  readonly onDropWatches = new Set<(ms: number) => void>();

  add(rule: IFaultRule): void {
    this._rules.push({ ...rule, remaining: rule.times ?? 1 });
  }

  /** The rule that applies to this request, consuming one of its uses. */
  take(method: string, pathAndQuery: string): IFaultRule | undefined {
    const rule = this._rules.find(
      r =>
        r.remaining > 0 &&
        (r.method === undefined || r.method.toUpperCase() === method.toUpperCase()) &&
        (r.pathIncludes === undefined || pathAndQuery.includes(r.pathIncludes))
    );
    if (rule === undefined) {
      return undefined;
    }
    rule.remaining -= 1;
    this._rules = this._rules.filter(r => r.remaining > 0);
    return rule;
  }

  dropWatches(ms: number): void {
    this.dropWatchMs = ms;
    for (const cb of this.onDropWatches) {
      cb(ms);
    }
  }

  clear(): void {
    this._rules = [];
    this.slowMs = 0;
    this.dropWatchMs = undefined;
  }
}
