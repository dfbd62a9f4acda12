/**
 * The test plays Kubeflow's Tensorboard controller (kubeflow/kubeflow
 * components/tensorboard-controller, `TensorboardReconciler.Reconcile`), and the Deployment
 * controller under it, since neither runs here:
 *
 * - for each Tensorboard, a Deployment of the same name (one replica, selector `app: <name>`, the
 *   Tensorboard's labels on the pod, owned by the Tensorboard) whose `tensorboard` container reads
 *   `--logdir=/tensorboard_logs/` from the volume `tbpd`: the claim and sub-path of
 *   `spec.logspath` (`pvc://<claim>/<sub-path>`), mounted read-only; and a Service `<name>` on
 *   port 80 to 6006. (The Istio VirtualService for `/tensorboard/<namespace>/<name>/` is left
 *   out: no Istio CRDs here.)
 * - the Tensorboard's status as the real controller writes it through `/status`: `readyReplicas`
 *   copied from the Deployment's, and a condition appended whenever the Deployment's FIRST
 *   condition type changes (`deploymentState` is that type, whatever its status: a Deployment
 *   lists `Available` first, `False` while its pod starts), `lastProbeTime` its lastUpdateTime.
 * - the Deployment controller: a new Deployment's status says its replica is unavailable
 *   (`Available: False`, `Progressing: True`); `ready(name)` makes its replica ready, as once the
 *   pod passes its readiness probe.
 *
 * No pod runs (no kube-controller-manager makes the ReplicaSet), and nothing garbage-collects
 * the Deployment when its Tensorboard goes.
 */
import { AdminError, type Admin, type Json } from './admin.js';

export const TENSORBOARD_IMAGE = 'tensorflow/tensorflow:2.5.1';

function pvcOf(logspath: string): { claim: string; subPath: string } {
  const rest = logspath.slice('pvc://'.length);
  const slash = rest.indexOf('/');
  return slash === -1
    ? { claim: rest, subPath: '' }
    : { claim: rest.slice(0, slash), subPath: rest.slice(slash + 1) };
}

/** The Deployment Kubeflow's controller makes for a Tensorboard (`generateDeployment`). */
export function tensorboardDeployment(tb: Json): Json {
  const name: string = tb.metadata.name;
  const logspath: string = tb.spec.logspath;
  const pvc = logspath.startsWith('pvc://') ? pvcOf(logspath) : null;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: tb.metadata.namespace,
      ownerReferences: [
        {
          apiVersion: 'tensorboard.kubeflow.org/v1alpha1',
          kind: 'Tensorboard',
          name,
          uid: tb.metadata.uid,
          controller: true,
          blockOwnerDeletion: true
        }
      ]
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { ...(tb.metadata.labels ?? {}), app: name } },
        spec: {
          restartPolicy: 'Always',
          containers: [
            {
              name: 'tensorboard',
              image: TENSORBOARD_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              command: ['/usr/local/bin/tensorboard'],
              workingDir: '/',
              args: [`--logdir=${pvc ? '/tensorboard_logs/' : logspath}`, '--bind_all'],
              ports: [{ containerPort: 6006 }],
              volumeMounts: pvc
                ? [
                    {
                      name: 'tbpd',
                      readOnly: true,
                      mountPath: '/tensorboard_logs/',
                      subPath: pvc.subPath
                    }
                  ]
                : []
            }
          ],
          volumes: pvc ? [{ name: 'tbpd', persistentVolumeClaim: { claimName: pvc.claim } }] : []
        }
      }
    }
  };
}

export class TensorboardController {
  private readonly _admin: Admin;
  private readonly _namespace: string;
  private readonly _ready = new Set<string>();
  private _timer: NodeJS.Timeout | null = null;
  private _busy = false;
  /** Errors met while reconciling (the test can assert there were none). */
  readonly errors: string[] = [];

  constructor(admin: Admin, namespace: string) {
    this._admin = admin;
    this._namespace = namespace;
  }

  private get _tensorboards(): string {
    return `/apis/tensorboard.kubeflow.org/v1alpha1/namespaces/${this._namespace}/tensorboards`;
  }

  private get _deployments(): string {
    return `/apis/apps/v1/namespaces/${this._namespace}/deployments`;
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

  /** Let the Deployment of Tensorboard `name` report its replica ready. */
  ready(name: string): void {
    this._ready.add(name);
  }

  deployment(name: string): Promise<Json> {
    return this._admin.get(`${this._deployments}/${name}`);
  }

  private async _tick(): Promise<void> {
    if (this._busy) {
      return;
    }
    this._busy = true;
    try {
      const list = await this._admin.get(this._tensorboards);
      for (const tb of list.items as Json[]) {
        if (!tb.metadata.deletionTimestamp) {
          await this._reconcile(tb).catch((error: unknown) => {
            // Deleted meanwhile, or written by someone else: the real controller requeues.
            if (!(error instanceof AdminError && (error.status === 404 || error.status === 409))) {
              throw error;
            }
          });
        }
      }
    } catch (error) {
      this.errors.push(error instanceof Error ? error.message : String(error));
    } finally {
      this._busy = false;
    }
  }

  private async _reconcile(tb: Json): Promise<void> {
    const name: string = tb.metadata.name;
    await this._admin.ensure(this._deployments, tensorboardDeployment(tb));
    await this._admin.ensure(`/api/v1/namespaces/${this._namespace}/services`, {
      metadata: {
        name,
        ownerReferences: tensorboardDeployment(tb).metadata.ownerReferences
      },
      spec: {
        type: 'ClusterIP',
        selector: { app: name },
        ports: [{ name: `http-${name}`, port: 80, targetPort: 6006 }]
      }
    });
    const deployment = await this._playDeploymentController(name);
    const conditions: Json[] = deployment.status?.conditions ?? [];
    if (conditions.length === 0) {
      return;
    }
    const status: Json = {
      conditions: [...(tb.status?.conditions ?? [])],
      readyReplicas: deployment.status?.readyReplicas ?? 0
    };
    const condition = {
      deploymentState: conditions[0].type,
      lastProbeTime: conditions[0].lastUpdateTime
    };
    const last = status.conditions[status.conditions.length - 1];
    if (!last || last.deploymentState !== condition.deploymentState) {
      status.conditions.push(condition);
    }
    if (JSON.stringify(status) !== JSON.stringify(tb.status ?? null)) {
      await this._admin.json('PUT', `${this._tensorboards}/${name}/status`, { ...tb, status });
    }
  }

  /** The Deployment's status as the Deployment controller would write it; the result. */
  private async _playDeploymentController(name: string): Promise<Json> {
    const deployment = await this.deployment(name);
    const ready = this._ready.has(name);
    if (
      deployment.status?.readyReplicas === (ready ? 1 : undefined) &&
      deployment.status?.conditions
    ) {
      return deployment;
    }
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const condition = (type: string, status: string, reason: string, message: string): Json => ({
      type,
      status,
      reason,
      message,
      lastUpdateTime: now,
      lastTransitionTime: now
    });
    const status: Json = ready
      ? {
          observedGeneration: deployment.metadata.generation,
          replicas: 1,
          updatedReplicas: 1,
          readyReplicas: 1,
          availableReplicas: 1,
          conditions: [
            condition(
              'Available',
              'True',
              'MinimumReplicasAvailable',
              'Deployment has minimum availability.'
            ),
            condition(
              'Progressing',
              'True',
              'NewReplicaSetAvailable',
              `ReplicaSet "${name}" has successfully progressed.`
            )
          ]
        }
      : {
          observedGeneration: deployment.metadata.generation,
          replicas: 1,
          updatedReplicas: 1,
          unavailableReplicas: 1,
          conditions: [
            condition(
              'Available',
              'False',
              'MinimumReplicasUnavailable',
              'Deployment does not have minimum availability.'
            ),
            condition(
              'Progressing',
              'True',
              'ReplicaSetUpdated',
              `ReplicaSet "${name}" is progressing.`
            )
          ]
        };
    return this._admin.json('PUT', `${this._deployments}/${name}/status`, {
      ...deployment,
      status
    });
  }
}
