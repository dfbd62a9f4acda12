/**
 * Cluster access: in-cluster (a notebook pod's service account) or a kubeconfig, and the
 * namespace Chard works in. The in-cluster root and the environment are injectable so tests
 * can play "inside a pod" without one.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/** Where a pod's service-account files live, relative to the in-cluster root. */
export const SERVICE_ACCOUNT_DIR = 'var/run/secrets/kubernetes.io/serviceaccount';

export interface IClusterConfig {
  kubeConfig: KubeConfig;
  /** The namespace every call uses. */
  namespace: string;
  /** Where the namespace came from (shown in progress messages). */
  namespaceSource: 'option' | 'service-account' | 'context' | 'default';
  inCluster: boolean;
  /** In-cluster: this pod's name (HOSTNAME), to read the notebook's own pod. */
  podName: string | null;
  /** The kubeconfig context used (null in-cluster). */
  context: string | null;
  /** The API server URL (never carries credentials). */
  server: string;
}

/** A configuration problem, with a one-line message. */
export class ClusterConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterConfigError';
  }
}

export namespace ClusterConfig {
  export interface IOptions {
    /** `--namespace`. */
    namespace?: string;
    /** `--context` (kubeconfig only). */
    context?: string;
    /** An explicit kubeconfig file (takes precedence over KUBECONFIG). */
    kubeconfig?: string;
    /** Root of the file system the service-account files are read from (default `/`). */
    inClusterRoot?: string;
    /** Environment (default `process.env`). */
    env?: Record<string, string | undefined>;
    /** Use the kubeconfig even inside a pod. */
    preferKubeconfig?: boolean;
  }
}

/** Load cluster access: in-cluster when a service account is mounted, else a kubeconfig. */
export function loadClusterConfig(options: ClusterConfig.IOptions = {}): IClusterConfig {
  const env = options.env ?? process.env;
  const root = options.inClusterRoot ?? '/';
  const saDir = path.join(root, SERVICE_ACCOUNT_DIR);
  const tokenFile = path.join(saDir, 'token');
  const inCluster =
    !options.preferKubeconfig &&
    options.kubeconfig === undefined &&
    options.context === undefined &&
    Boolean(env.KUBERNETES_SERVICE_HOST) &&
    fs.existsSync(tokenFile);
  if (inCluster) {
    return Private.inCluster(options, env, saDir, tokenFile);
  }
  return Private.fromKubeconfig(options, env);
}

namespace Private {
  export function inCluster(
    options: ClusterConfig.IOptions,
    env: Record<string, string | undefined>,
    saDir: string,
    tokenFile: string
  ): IClusterConfig {
    const host = env.KUBERNETES_SERVICE_HOST ?? '';
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
    const server = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const caFile = path.join(saDir, 'ca.crt');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'in-cluster',
          server,
          caFile: fs.existsSync(caFile) ? caFile : undefined,
          skipTLSVerify: false
        }
      ],
      // A token file (not the token): client-node re-reads it, so rotated tokens keep working.
      users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile } } }],
      contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster' }],
      currentContext: 'in-cluster'
    });
    let namespace = options.namespace;
    let namespaceSource: IClusterConfig['namespaceSource'] = 'option';
    if (!namespace) {
      const nsFile = path.join(saDir, 'namespace');
      const fromFile = fs.existsSync(nsFile) ? fs.readFileSync(nsFile, 'utf-8').trim() : '';
      namespace = fromFile || 'default';
      namespaceSource = fromFile ? 'service-account' : 'default';
    }
    return {
      kubeConfig: kc,
      namespace,
      namespaceSource,
      inCluster: true,
      podName: env.HOSTNAME ? env.HOSTNAME : null,
      context: null,
      server
    };
  }

  export function fromKubeconfig(
    options: ClusterConfig.IOptions,
    env: Record<string, string | undefined>
  ): IClusterConfig {
    const files = kubeconfigFiles(options, env);
    const existing = files.filter(f => fs.existsSync(f));
    if (existing.length === 0) {
      throw new ClusterConfigError(
        'no cluster access: not inside a pod with a service account, and no kubeconfig ' +
          `(looked for ${files.join(', ')}; set KUBECONFIG or pass --kubeconfig)`
      );
    }
    const kc = new KubeConfig();
    for (const file of existing) {
      const one = new KubeConfig();
      try {
        one.loadFromFile(file);
      } catch (error) {
        const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
        throw new ClusterConfigError(`cannot read kubeconfig ${file}: ${reason}`);
      }
      if (kc.contexts.length === 0 && kc.clusters.length === 0) {
        kc.loadFromOptions({
          clusters: one.clusters,
          users: one.users,
          contexts: one.contexts,
          currentContext: one.currentContext
        });
      } else {
        kc.mergeConfig(one, true);
      }
    }
    if (options.context !== undefined) {
      if (!kc.getContextObject(options.context)) {
        const known = kc.contexts.map(c => c.name).join(', ') || 'none';
        throw new ClusterConfigError(
          `no context "${options.context}" in the kubeconfig (known contexts: ${known})`
        );
      }
      kc.setCurrentContext(options.context);
    }
    const context = kc.getCurrentContext();
    const ctx = context ? kc.getContextObject(context) : null;
    const cluster = kc.getCurrentCluster();
    if (!ctx || !cluster) {
      throw new ClusterConfigError(
        'the kubeconfig has no current context; pass --context NAME or run `kubectl config use-context`'
      );
    }
    let namespace = options.namespace;
    let namespaceSource: IClusterConfig['namespaceSource'] = 'option';
    if (!namespace) {
      namespace = ctx.namespace || 'default';
      namespaceSource = ctx.namespace ? 'context' : 'default';
    }
    return {
      kubeConfig: kc,
      namespace,
      namespaceSource,
      inCluster: false,
      podName: null,
      context,
      server: Private.redactUrl(cluster.server)
    };
  }

  function kubeconfigFiles(
    options: ClusterConfig.IOptions,
    env: Record<string, string | undefined>
  ): string[] {
    if (options.kubeconfig) {
      return [options.kubeconfig];
    }
    if (env.KUBECONFIG) {
      return env.KUBECONFIG.split(path.delimiter).filter(f => f.length > 0);
    }
    const home = env.HOME ?? os.homedir();
    return [path.join(home, '.kube', 'config')];
  }

  /** Drop any user:password from a server URL before it is shown or stored. */
  export function redactUrl(url: string): string {
    try {
      const u = new URL(url);
      u.username = '';
      u.password = '';
      return u.toString().replace(/\/$/, '');
    } catch {
      return url;
    }
  }
}
