/**
 * A real Kubernetes control plane for the cluster tests, on loopback only: Debian's etcd, a real
 * kube-apiserver (RBAC on, generated certificates), the upstream CRDs, and optionally Argo
 * Workflows' own workflow-controller and kwok (fake nodes, pods with a lifecycle but no container
 * runtime). The test plays the scheduler (binds pods to the fake node), the snapshot controller and
 * decides how each step's pod ends.
 *
 *   const cluster = await startCluster({ argo: true });
 *   process.env.KUBECONFIG = cluster.kubeconfigPath;   // the limited identity of deploy/rbac.yaml
 *   ...
 *   await cluster.close();
 *
 * See README.md next to this file.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseAllDocuments, stringify } from 'yaml';

import { Admin, FatalError, type Json, until } from './admin.js';
import { buildComponents, findEtcd, type Component } from './binaries.js';
import { makeCerts, pem, type ICerts } from './certs.js';
import { PodDriver, type PodOutcome } from './pods.js';
import { freePort, Processes } from './processes.js';

export type { PodOutcome } from './pods.js';
export { until } from './admin.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
export const CRD_DIR = join(root, 'tests', 'fixtures', 'crds');

/** The line every step's `main` container logs (kwok serves it). */
export const STEP_LOG_LINE = 'hello from a step pod (kwok)';

export type CrdName = 'workflows' | 'volumesnapshots' | 'tensorboards';

export interface IClusterOptions {
  /** The user's namespace (default 'kubeflow-user'), with deploy/rbac.yaml applied in it. */
  namespace?: string;
  /** Which of Chard's CRDs to install (default all). */
  crds?: CrdName[];
  /** Run Argo's workflow-controller and kwok (default false). */
  argo?: boolean;
  /** How each step pod ends (default: every pod succeeds). */
  outcome?: (pod: Json) => PodOutcome;
}

export interface ICluster {
  url: string;
  namespace: string;
  /** Kubeconfig of the limited identity (ServiceAccount chard bound to deploy/rbac.yaml's Role). */
  kubeconfigPath: string;
  /** Kubeconfig of the cluster admin. */
  adminKubeconfigPath: string;
  admin: Admin;
  /** Write a kubeconfig for the limited identity pointing at another server URL (a proxy). */
  kubeconfigFor(url: string, name: string): string;
  /** Token of ServiceAccount `name` in the namespace (created when missing). */
  serviceAccountToken(name: string): Promise<string>;
  /** The pod driver (binds pods to the fake node, ends them as `outcome` says). */
  pods: PodDriver;
  /** A component's log so far (etcd, kube-apiserver, workflow-controller, kwok). */
  log(name: string): string;
  /** Install more of Chard's CRDs (a test that starts without them). */
  installCrds(crds: CrdName[]): Promise<void>;
  /** Play the snapshot controller: mark every VolumeSnapshot in the namespace ready. */
  readySnapshots(): Promise<number>;
  dir: string;
  close(): Promise<void>;
}

/** The CRD files for Chard's resources, and those Argo's controller needs for itself. */
function crdFiles(crds: CrdName[], argo: boolean): string[] {
  const files: string[] = [];
  if (crds.includes('workflows')) {
    files.push(join(CRD_DIR, 'argoproj.io_workflows.yaml'));
  }
  if (argo) {
    const dir = join(CRD_DIR, 'argo-minimal');
    files.push(...readdirSync(dir).map(f => join(dir, f)));
    files.push(join(CRD_DIR, 'kwok', 'kwok.x-k8s.io_logs.yaml'));
  }
  if (crds.includes('volumesnapshots')) {
    for (const kind of ['volumesnapshots', 'volumesnapshotclasses', 'volumesnapshotcontents']) {
      files.push(join(CRD_DIR, `snapshot.storage.k8s.io_${kind}.yaml`));
    }
  }
  if (crds.includes('tensorboards')) {
    files.push(join(CRD_DIR, 'tensorboard.kubeflow.org_tensorboards.yaml'));
  }
  return files;
}

function kubeconfigYaml(
  url: string,
  ca: string,
  user: Record<string, string>,
  namespace: string
): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'chard-test',
        cluster: { server: url, 'certificate-authority-data': Buffer.from(ca).toString('base64') }
      }
    ],
    users: [{ name: 'chard-test-user', user }],
    contexts: [
      {
        name: 'chard-test',
        context: { cluster: 'chard-test', user: 'chard-test-user', namespace }
      }
    ],
    'current-context': 'chard-test'
  });
}

/**
 * Debian's etcd (3.4.23) predates the RequestWatchProgress fix the API server looks for, so the
 * server refuses watch-list streams ("the required storage feature RequestWatchProgress is
 * disabled"); client-go's reflectors then retry forever instead of falling back. Turn the
 * client-side feature off in Argo's controller and kwok: they list and watch as before 1.32.
 */
const CLIENT_GO_ENV = { KUBE_FEATURE_WatchListClient: 'false' };

async function startEtcd(procs: Processes, dir: string, etcd: string): Promise<string> {
  const client = await freePort();
  const peer = await freePort();
  procs.start('etcd', etcd, [
    '--name=chard-test',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=http://127.0.0.1:${client}`,
    `--advertise-client-urls=http://127.0.0.1:${client}`,
    `--listen-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-cluster=chard-test=http://127.0.0.1:${peer}`,
    '--unsafe-no-fsync',
    // The API server's watch cache waits for etcd's progress notifications to serve fresh reads.
    '--experimental-watch-progress-notify-interval=1s',
    '--log-level=warn'
  ]);
  return `http://127.0.0.1:${client}`;
}

async function startApiserver(
  procs: Processes,
  certs: ICerts,
  binary: string,
  etcdUrl: string
): Promise<string> {
  const port = await freePort();
  procs.start('kube-apiserver', binary, [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${join(certs.dir, 'apiserver')}`,
    `--tls-cert-file=${certs.serverCert}`,
    `--tls-private-key-file=${certs.serverKey}`,
    `--client-ca-file=${certs.caCert}`,
    '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${certs.serviceAccountPub}`,
    `--service-account-signing-key-file=${certs.serviceAccountKey}`,
    '--service-cluster-ip-range=10.96.0.0/24',
    // No kube-controller-manager runs: nothing would remove the PVC protection finalizer.
    '--disable-admission-plugins=StorageObjectInUseProtection',
    '--endpoint-reconciler-type=none',
    '--enable-priority-and-fairness=false',
    // See CLIENT_GO_ENV: without watch-list streams, clients fall back to list + watch at once.
    '--feature-gates=WatchList=false',
    // Pod logs come from kwok's kubelet API on 127.0.0.1 (the fake node's only address), over TLS.
    '--kubelet-preferred-address-types=InternalIP',
    `--kubelet-certificate-authority=${certs.caCert}`,
    `--kubelet-client-certificate=${certs.adminCert}`,
    `--kubelet-client-key=${certs.adminKey}`,
    '--profiling=false',
    '--v=1'
  ]);
  return `https://127.0.0.1:${port}`;
}

async function applyCrds(admin: Admin, files: string[]): Promise<void> {
  const names: string[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const crd = doc.toJSON() as Json;
      if (!crd || crd.kind !== 'CustomResourceDefinition') {
        continue;
      }
      delete crd.status;
      await admin.ensure('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      names.push(crd.metadata.name);
    }
  }
  for (const name of names) {
    await until(`CRD ${name} to be established`, async () => {
      const crd = await admin.get(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`
      );
      const conditions: Json[] = crd.status?.conditions ?? [];
      return conditions.some(c => c.type === 'Established' && c.status === 'True')
        ? true
        : undefined;
    });
  }
}

/** deploy/rbac.yaml as the project ships it, moved into `namespace`. */
export function rbacDocuments(namespace: string): Json[] {
  const text = readFileSync(join(root, 'deploy', 'rbac.yaml'), 'utf8');
  return parseAllDocuments(text).map(doc => {
    const obj = doc.toJSON() as Json;
    obj.metadata.namespace = namespace;
    for (const subject of obj.subjects ?? []) {
      subject.namespace = namespace;
    }
    return obj;
  });
}

async function setUpNamespace(admin: Admin, namespace: string): Promise<void> {
  await admin.ensure('/api/v1/namespaces', { metadata: { name: namespace } });
  // No controller-manager creates the default ServiceAccount; pods need it.
  await admin.ensure(`/api/v1/namespaces/${namespace}/serviceaccounts`, {
    metadata: { name: 'default' }
  });
  for (const obj of rbacDocuments(namespace)) {
    const path =
      obj.kind === 'ServiceAccount'
        ? `/api/v1/namespaces/${namespace}/serviceaccounts`
        : `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/${obj.kind === 'Role' ? 'roles' : 'rolebindings'}`;
    await admin.ensure(path, obj);
  }
}

async function startArgo(
  procs: Processes,
  admin: Admin,
  binaries: Map<Component, string>,
  adminKubeconfig: string,
  dir: string,
  certs: ICerts
): Promise<void> {
  await admin.ensure('/api/v1/namespaces', { metadata: { name: 'argo' } });
  await admin.ensure('/api/v1/namespaces/argo/configmaps', {
    metadata: { name: 'workflow-controller-configmap' },
    data: {
      // No listener beyond what the controller hard-codes (its health port 6060).
      metricsConfig: 'enabled: false\n',
      telemetryConfig: 'enabled: false\n'
    }
  });
  // A fake node for kwok to manage; the pod driver binds pods to it.
  await admin.ensure('/api/v1/nodes', {
    metadata: {
      name: 'kwok-node-0',
      annotations: { 'kwok.x-k8s.io/node': 'fake' },
      labels: { type: 'kwok', 'kubernetes.io/hostname': 'kwok-node-0' }
    },
    status: {
      allocatable: { cpu: '64', memory: '512Gi', pods: '1000' },
      capacity: { cpu: '64', memory: '512Gi', pods: '1000' }
    }
  });
  procs.start(
    'workflow-controller',
    binaries.get('workflow-controller') as string,
    [
      `--kubeconfig=${adminKubeconfig}`,
      '--namespace=argo',
      '--configmap=workflow-controller-configmap',
      '--executor-image=quay.io/argoproj/argoexec:v3.7.6',
      '--workflow-workers=4',
      '--pod-cleanup-workers=1',
      '--loglevel=info'
    ],
    // A workflow is reconciled at most once per DEFAULT_REQUEUE_TIME (10 s by default); Argo's
    // own end-to-end tests run with 1 s, its documented minimum.
    { LEADER_ELECTION_DISABLE: 'true', DEFAULT_REQUEUE_TIME: '1s', ...CLIENT_GO_ENV }
  );
  // kwok serves the pods' logs (as a kubelet would) from one file in CRI format, and takes the
  // pod lifecycle of kwok-stages.yaml. Its kubelet API is on 127.0.0.1 only, the node's address.
  const logFile = join(dir, 'step.log');
  writeFileSync(logFile, `${new Date().toISOString()} stdout F ${STEP_LOG_LINE}\n`);
  const config = join(dir, 'kwok.yaml');
  const logs = {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterLogs',
    metadata: { name: 'chard-steps' },
    spec: { logs: [{ containers: ['main'], logsFile: logFile, follow: false }] }
  };
  writeFileSync(
    config,
    `${readFileSync(join(here, 'kwok-stages.yaml'), 'utf8')}\n---\n${stringify(logs)}`
  );
  const kwokPort = await freePort();
  procs.start(
    'kwok',
    binaries.get('kwok') as string,
    [
      `--kubeconfig=${adminKubeconfig}`,
      `--config=${config}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      `--server-address=127.0.0.1:${kwokPort}`,
      // Per-pod logs (a failing step's) are kwok Logs resources the pod driver creates.
      '--enable-crds=Logs',
      `--node-port=${kwokPort}`,
      '--node-ip=127.0.0.1',
      `--tls-cert-file=${certs.serverCert}`,
      `--tls-private-key-file=${certs.serverKey}`,
      // Pod IPs are only data here: nothing connects to them.
      '--cidr=10.244.0.1/24'
    ],
    CLIENT_GO_ENV
  );
  await until(
    'kwok to mark the fake node Ready',
    async () => {
      if (procs.crashed) {
        throw new FatalError(procs.crashed);
      }
      const node = await admin.get('/api/v1/nodes/kwok-node-0');
      const conditions: Json[] = node.status?.conditions ?? [];
      return conditions.some(c => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    },
    60000
  );
}

export async function startCluster(options: IClusterOptions = {}): Promise<ICluster> {
  const namespace = options.namespace ?? 'kubeflow-user';
  const crds = options.crds ?? ['workflows', 'volumesnapshots', 'tensorboards'];
  const argo = options.argo ?? false;
  const binaries = buildComponents(
    argo ? ['kube-apiserver', 'workflow-controller', 'kwok'] : ['kube-apiserver']
  );
  const dir = mkdtempSync(join(tmpdir(), 'chard-cluster-'));
  const procs = new Processes(dir);
  let driver: PodDriver | null = null;
  const close = async (): Promise<void> => {
    driver?.stop();
    await procs.close();
    if (!process.env.CHARD_CLUSTER_KEEP) {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    const certs = makeCerts(dir);
    const etcdUrl = await startEtcd(procs, dir, findEtcd());
    const url = await startApiserver(
      procs,
      certs,
      binaries.get('kube-apiserver') as string,
      etcdUrl
    );
    const ca = pem(certs.caCert);
    const admin = new Admin({ url, ca, cert: pem(certs.adminCert), key: pem(certs.adminKey) });
    await until(
      'kube-apiserver to be ready',
      async () => {
        if (procs.crashed) {
          throw new FatalError(procs.crashed);
        }
        const res = await admin.raw('GET', '/readyz');
        return res.status === 200 ? true : undefined;
      },
      180000,
      300
    );
    await applyCrds(admin, crdFiles(crds, argo));
    await setUpNamespace(admin, namespace);
    const adminKubeconfigPath = join(dir, 'admin.kubeconfig');
    writeFileSync(
      adminKubeconfigPath,
      kubeconfigYaml(
        url,
        ca,
        {
          'client-certificate-data': Buffer.from(pem(certs.adminCert)).toString('base64'),
          'client-key-data': Buffer.from(pem(certs.adminKey)).toString('base64')
        },
        namespace
      )
    );
    if (argo) {
      await startArgo(procs, admin, binaries, adminKubeconfigPath, dir, certs);
    }
    const serviceAccountToken = async (name: string): Promise<string> => {
      await admin.ensure(`/api/v1/namespaces/${namespace}/serviceaccounts`, {
        metadata: { name }
      });
      const res = await admin.post(
        `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 7200 }
        }
      );
      return res.status.token as string;
    };
    const token = await serviceAccountToken('chard');
    const kubeconfigFor = (server: string, name: string): string => {
      const path = join(dir, `${name}.kubeconfig`);
      writeFileSync(path, kubeconfigYaml(server, ca, { token }, namespace));
      return path;
    };
    const kubeconfigPath = kubeconfigFor(url, 'chard');
    driver = new PodDriver(admin, namespace, options.outcome ?? (() => 'succeed'), dir);
    if (argo) {
      driver.start();
    }
    return {
      url,
      namespace,
      kubeconfigPath,
      adminKubeconfigPath,
      admin,
      kubeconfigFor,
      serviceAccountToken,
      pods: driver,
      log: name => readFileSync(procs.logPath(name), 'utf8'),
      installCrds: names => applyCrds(admin, crdFiles(names, false)),
      readySnapshots: async () => {
        const list = await admin.get(
          `/apis/snapshot.storage.k8s.io/v1/namespaces/${namespace}/volumesnapshots`
        );
        let n = 0;
        for (const snap of list.items as Json[]) {
          if (snap.status?.readyToUse === true) {
            continue;
          }
          await admin.json(
            'PATCH',
            `/apis/snapshot.storage.k8s.io/v1/namespaces/${namespace}/volumesnapshots/${snap.metadata.name}/status`,
            {
              status: {
                readyToUse: true,
                creationTime: new Date().toISOString(),
                restoreSize: '1Gi',
                boundVolumeSnapshotContentName: `snapcontent-${snap.metadata.uid}`
              }
            },
            'application/merge-patch+json'
          );
          n++;
        }
        return n;
      },
      dir,
      close
    };
  } catch (error) {
    // Say why, with what each component logged last.
    const logs = ['etcd', 'kube-apiserver', 'workflow-controller', 'kwok']
      .map(name => `--- ${name} (last lines) ---\n${procs.tail(name, 15)}`)
      .join('\n');
    await close();
    throw new Error(
      `the test control plane did not start: ${error instanceof Error ? error.message : String(error)}\n${logs}`
    );
  }
}
