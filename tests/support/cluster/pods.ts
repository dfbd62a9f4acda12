/**
 * The test's part in the pods' lives: no kube-scheduler runs, so the driver binds each new pod to
 * kwok's fake node; once kwok has made it Running, the test's `outcome` decides how it ends and the
 * driver labels it (kwok-stages.yaml then finishes it, Succeeded or Failed). `hold` leaves it
 * Running until the test changes its mind (e.g. to see two steps run at once, or to cancel).
 * Once a pod has ended, the driver reports its outputs as Argo's wait container would.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Admin, Json } from './admin.js';

/**
 * How a pod ends; `{ fail: LOG }` fails it and `{ succeed: LOG }` lets it succeed, with LOG as
 * its `main` container's log.
 */
export type PodOutcome = 'succeed' | 'fail' | 'hold' | { fail: string } | { succeed: string };

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

  private readonly _dir: string;
  private readonly _reported = new Set<string>();

  constructor(admin: Admin, namespace: string, outcome: (pod: Json) => PodOutcome, dir: string) {
    this._dir = dir;
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

  /**
   * What Argo's `wait` container does when a step ends (kwok runs no container): report the
   * step's outputs as a WorkflowTaskResult named after its node, each output parameter at its
   * declared default (the test's steps write no files).
   */
  private async _reportOutputs(pod: Json): Promise<void> {
    const nodeId: string | undefined = pod.metadata.annotations?.['workflows.argoproj.io/node-id'];
    const workflow: string | undefined = pod.metadata.labels?.['workflows.argoproj.io/workflow'];
    const owner = (pod.metadata.ownerReferences ?? []).find((o: Json) => o.kind === 'Workflow');
    if (!nodeId || !workflow || !owner) {
      return;
    }
    // The step's template, in an environment variable, or, when it is longer than an
    // environment variable may be, "offloaded" to a ConfigMap mounted as the volume
    // argo-env-config (Argo's workflowpod.go).
    const env: Json[] = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].flatMap(
      (c: Json) => c.env ?? []
    );
    const entry = env.find(e => e.name === 'ARGO_TEMPLATE');
    let text: string = entry?.value ?? '{}';
    const offloaded = (pod.spec.volumes ?? []).find((v: Json) => v.name === 'argo-env-config');
    if (text === 'offloaded' && offloaded?.configMap?.name) {
      const cm = await this._admin.get(
        `/api/v1/namespaces/${this._namespace}/configmaps/${offloaded.configMap.name}`
      );
      text = cm.data?.ARGO_TEMPLATE ?? '{}';
    }
    const template = JSON.parse(text);
    const parameters = ((template.outputs?.parameters ?? []) as Json[]).map(p => ({
      name: p.name,
      value: p.valueFrom?.default ?? ''
    }));
    await this._admin.ensure(
      `/apis/argoproj.io/v1alpha1/namespaces/${this._namespace}/workflowtaskresults`,
      {
        apiVersion: 'argoproj.io/v1alpha1',
        kind: 'WorkflowTaskResult',
        metadata: {
          name: nodeId,
          labels: {
            'workflows.argoproj.io/workflow': workflow,
            'workflows.argoproj.io/report-outputs-completed': 'true'
          },
          ownerReferences: [
            { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', name: workflow, uid: owner.uid }
          ]
        },
        outputs: parameters.length > 0 ? { parameters } : {}
      }
    );
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
    const phase = pod.status?.phase;
    if ((phase === 'Succeeded' || phase === 'Failed') && !this._reported.has(name)) {
      await this._reportOutputs(pod);
      this._reported.add(name);
      return;
    }
    if (phase !== 'Running' || pod.metadata.labels?.[OUTCOME_LABEL]) {
      return;
    }
    const outcome = this._outcome(pod);
    if (outcome === 'hold') {
      return;
    }
    if (typeof outcome === 'object') {
      // kwok serves this pod's log from its own file (a kwok Logs resource named as the pod).
      const file = join(this._dir, `${name}.log`);
      const time = new Date().toISOString();
      const log = 'fail' in outcome ? outcome.fail : outcome.succeed;
      writeFileSync(
        file,
        log
          .replace(/\n$/, '')
          .split('\n')
          .map(l => `${time} stderr F ${l}\n`)
          .join('')
      );
      await this._admin.ensure(`/apis/kwok.x-k8s.io/v1alpha1/namespaces/${this._namespace}/logs`, {
        apiVersion: 'kwok.x-k8s.io/v1alpha1',
        kind: 'Logs',
        metadata: { name },
        spec: { logs: [{ containers: ['main'], logsFile: file, follow: false }] }
      });
    }
    const label = typeof outcome === 'object' ? ('fail' in outcome ? 'fail' : 'succeed') : outcome;
    await this._admin.mergePatch(base, { metadata: { labels: { [OUTCOME_LABEL]: label } } });
  }
}
