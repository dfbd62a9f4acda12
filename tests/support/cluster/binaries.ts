/**
 * The real components' binaries: built (or found in the cache) by build.sh next to this file, and
 * etcd from the machine (Debian's etcd-server). A component that cannot be had throws with the
 * reason; the cluster stage fails, it is never skipped.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface IBinaries {
  etcd: string;
  kubeApiserver: string;
  workflowController: string;
  kwok: string;
}

export type Component = 'kube-apiserver' | 'workflow-controller' | 'kwok';

const here = dirname(fileURLToPath(import.meta.url));

/** Build (or reuse from the cache) the named components; returns name -> path. */
export function buildComponents(names: Component[]): Map<Component, string> {
  const result = spawnSync('bash', [join(here, 'build.sh'), ...names], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 * 1024 * 1024
  });
  if (result.status !== 0) {
    throw new Error(
      `cannot build the cluster components (${names.join(', ')}): ` +
        `tests/support/cluster/build.sh exited ${result.status ?? result.signal}\n${result.stderr}`
    );
  }
  const paths = new Map<Component, string>();
  for (const line of result.stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) {
      paths.set(line.slice(0, at) as Component, line.slice(at + 1));
    }
  }
  for (const name of names) {
    if (!paths.has(name)) {
      throw new Error(`build.sh printed no path for ${name}:\n${result.stdout}${result.stderr}`);
    }
  }
  return paths;
}

/** Debian's etcd (package etcd-server). */
export function findEtcd(): string {
  try {
    return execFileSync('bash', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(
      'etcd is not installed: the cluster tests need it (Debian: apt-get install etcd-server)'
    );
  }
}

export function allBinaries(): IBinaries {
  const built = buildComponents(['kube-apiserver', 'workflow-controller', 'kwok']);
  return {
    etcd: findEtcd(),
    kubeApiserver: built.get('kube-apiserver') as string,
    workflowController: built.get('workflow-controller') as string,
    kwok: built.get('kwok') as string
  };
}
