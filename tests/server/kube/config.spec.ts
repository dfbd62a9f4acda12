/** Cluster access: in-cluster from a service account (injected root), else a kubeconfig. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ClusterConfigError,
  loadClusterConfig,
  SERVICE_ACCOUNT_DIR
} from '../../../src/server/kube/config.js';
import { createKubeClient, PODS } from '../../../src/server/kube/client.js';
import { startFakeCluster } from '../../support/kube/index.js';
import { tempDir } from './helpers.js';

function podRoot(namespace: string | null, token = 'sa-token'): string {
  const root = tempDir();
  const dir = path.join(root, SERVICE_ACCOUNT_DIR);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'token'), token);
  if (namespace !== null) {
    fs.writeFileSync(path.join(dir, 'namespace'), `${namespace}\n`);
  }
  return root;
}

describe('loadClusterConfig', () => {
  it('inside a pod: the service account, its namespace and the pod name', () => {
    const env = {
      KUBERNETES_SERVICE_HOST: '10.0.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      HOSTNAME: 'nb-0'
    };
    const config = loadClusterConfig({ inClusterRoot: podRoot('kubeflow-alice'), env });
    expect(config).toMatchObject({
      inCluster: true,
      namespace: 'kubeflow-alice',
      namespaceSource: 'service-account',
      podName: 'nb-0',
      server: 'https://10.0.0.1:443'
    });
    expect(
      loadClusterConfig({ inClusterRoot: podRoot('kubeflow-alice'), env, namespace: 'other' })
        .namespace
    ).toBe('other');
    expect(loadClusterConfig({ inClusterRoot: podRoot(null), env }).namespace).toBe('default');
  });

  it('inside a pod, talks to the API server with the service-account token', async () => {
    const cluster = await startFakeCluster({ token: 'the-sa-token' });
    try {
      const url = new URL(cluster.url);
      const env = {
        KUBERNETES_SERVICE_HOST: url.hostname,
        KUBERNETES_SERVICE_PORT: url.port,
        HOSTNAME: 'nb-0'
      };
      const root = podRoot(cluster.namespace, 'the-sa-token');
      // The test server's CA, where a pod has it.
      const caMatch = /certificate-authority-data: (\S+)/.exec(cluster.kubeconfig);
      if (caMatch) {
        fs.writeFileSync(
          path.join(root, SERVICE_ACCOUNT_DIR, 'ca.crt'),
          Buffer.from(caMatch[1], 'base64')
        );
      }
      const config = loadClusterConfig({ inClusterRoot: root, env });
      const client = createKubeClient(config.kubeConfig, config.namespace, {
        retry: { attempts: 1 }
      });
      await expect(client.get(PODS, 'nb-0')).rejects.toThrow(/not found \(404\): get pods "nb-0"/);
      fs.writeFileSync(path.join(root, SERVICE_ACCOUNT_DIR, 'token'), 'wrong');
      const bad = loadClusterConfig({ inClusterRoot: root, env });
      const badClient = createKubeClient(bad.kubeConfig, bad.namespace, { retry: { attempts: 1 } });
      await expect(badClient.get(PODS, 'nb-0')).rejects.toThrow(
        /unauthorized \(401\).*get pods "nb-0"/
      );
    } finally {
      await cluster.close();
    }
  });

  it('outside: the kubeconfig, its context and its namespace', async () => {
    const cluster = await startFakeCluster({ namespace: 'team-a' });
    try {
      const config = loadClusterConfig({ env: { KUBECONFIG: cluster.kubeconfigPath } });
      expect(config).toMatchObject({
        inCluster: false,
        namespace: 'team-a',
        namespaceSource: 'context',
        context: 'chard-fake'
      });
      expect(() =>
        loadClusterConfig({ env: { KUBECONFIG: cluster.kubeconfigPath }, context: 'nope' })
      ).toThrow(/no context "nope" in the kubeconfig \(known contexts: chard-fake\)/);
    } finally {
      await cluster.close();
    }
  });

  it('no cluster at all: one line saying where it looked', () => {
    const home = tempDir();
    expect(() => loadClusterConfig({ env: { HOME: home } })).toThrow(ClusterConfigError);
    expect(() => loadClusterConfig({ env: { HOME: home } })).toThrow(
      /no cluster access.*\.kube\/config/
    );
  });
});
