/**
 * The test's part in the pods' lives: no kube-scheduler runs, so the driver binds each new pod to
 * kwok's fake node; once kwok has made it Running, the test's `outcome` decides how it ends and the
 * driver labels it (kwok-stages.yaml then finishes it, Succeeded or Failed). `hold` leaves it
 * Running until the test changes its mind (e.g. to see two steps run at once, or to cancel).
 */
import type { Admin, Json } from './admin.js';

export type PodOutcome = 'succeed' | 'fail' | 'hold';

export const OUTCOME_LABEL = 'chard.test/outcome';
export const FAKE_NODE = 'kwok-node-0';

/** The Argo task (DAG task or step) a pod runs: the last part of its node-name annotation. */
export function taskOf(pod: Json): string {
  const node: string = pod.metadata?.annotations?.['workflows.argoproj.io/node-name'] ?? '';
  return node.slice(node.lastIndexOf('.') + 1);
}

export class PodDriver {
  private readonly _admin: Admin;
  private readonly _namespace: string;
  private _outcome: (pod: Json) => PodOutcome;
  private _timer: NodeJS.Timeout | null = null;
  private _busy = false;
  /** Errors the driver met (the test can assert there were none). */
  readonly errors: string[] = [];

  constructor(admin: Admin, namespace: string, outcome: (pod: Json) => PodOutcome) {
    this._admin = admin;
    this._namespace = namespace;
    this._outcome = outcome;
  }

  /** Change how pods from now on (and held ones) end. */
  set outcome(fn: (pod: Json) => PodOutcome) {
    this._outcome = fn;
  }

  start(everyMs = 150): void {
    this._timer = setInterval(() => void this._tick(), everyMs);
  }

  stop(): void {
    if (this._timer) {
      clearInterval(this._timer);
      this._timer = null;
    }
  }

  /** Every pod in the namespace now. */
  async list(): Promise<Json[]> {
    const list = await this._admin.get(`/api/v1/namespaces/${this._namespace}/pods`);
    return list.items as Json[];
  }

  private async _tick(): Promise<void> {
    if (this._busy) {
      return;
    }
    this._busy = true;
    try {
      for (const pod of await this.list()) {
        await this._drive(pod);
      }
    } catch (error) {
      this.errors.push(error instanceof Error ? error.message : String(error));
    } finally {
      this._busy = false;
    }
  }

  private async _drive(pod: Json): Promise<void> {
    const name: string = pod.metadata.name;
    const base = `/api/v1/namespaces/${this._namespace}/pods/${name}`;
    if (pod.metadata.deletionTimestamp) {
      return;
    }
    if (!pod.spec.nodeName) {
      await this._admin.post(`${base}/binding`, {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name },
        target: { apiVersion: 'v1', kind: 'Node', name: FAKE_NODE }
      });
      return;
    }
    if (pod.status?.phase !== 'Running' || pod.metadata.labels?.[OUTCOME_LABEL]) {
      return;
    }
    const outcome = this._outcome(pod);
    if (outcome !== 'hold') {
      await this._admin.mergePatch(base, { metadata: { labels: { [OUTCOME_LABEL]: outcome } } });
    }
  }
}
