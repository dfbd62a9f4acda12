/**
 * `chard submit` and `chard cancel` against a real kube-apiserver (no Argo controller here): what
 * the server itself decides — CRDs installed or not, schema and field validation, warnings, RBAC
 * with deploy/rbac.yaml. The CRDs are installed one after another as the tests go, as an
 * administrator would.
 */
import type { ICluster } from '../support/cluster/index.js';
import { startCluster, until } from '../support/cluster/index.js';
import {
  chard,
  chardProcess,
  lastLine,
  snapshotClass,
  trainingNotebook,
  workflow,
  workflows,
  workflowsPath,
  workspacePvc
} from './support.js';

const NS = 'kubeflow-user';
let cluster: ICluster;
const saved = process.env.KUBECONFIG;

beforeAll(async () => {
  cluster = await startCluster({ namespace: NS, crds: [] });
  process.env.KUBECONFIG = cluster.kubeconfigPath;
  await workspacePvc(cluster);
}, 900000);

afterAll(async () => {
  process.env.KUBECONFIG = saved;
  await cluster?.close();
});

describe('a cluster without Argo Workflows', () => {
  it('chard submit says Argo Workflows is not installed (the server answered a plain-text 404)', async () => {
    // The real server's answer for a resource it does not serve is not a Status object.
    const raw = await cluster.admin.raw('GET', workflowsPath(cluster));
    expect(raw.status).toBe(404);
    expect(raw.text).toBe('404 page not found\n');

    const r = await chard('submit', trainingNotebook(), '--no-workspace');
    expect(r.code).toBe(1);
    expect(lastLine(r.err)).toBe(
      'chard: Argo Workflows is not installed in the cluster: the API server does not serve ' +
        'argoproj.io/v1alpha1 workflows (needed to list workflows.argoproj.io in namespace ' +
        `"${NS}"); install Argo Workflows in the cluster, or ask its administrator to`
    );
  });

  it('chard cancel says so too, not "no run"', async () => {
    const r = await chard('cancel', 'training-0123456789-1', '--cluster');
    expect(r.code).toBe(1);
    expect(lastLine(r.err)).toMatch(/^chard: Argo Workflows is not installed in the cluster: /);
    expect(r.err).not.toMatch(/no run/);
  });
});

describe('Argo installed, no VolumeSnapshot CRD', () => {
  beforeAll(async () => {
    await cluster.installCrds(['workflows']);
  }, 120000);

  it('a failed snapshot leaves no run to attach to: the next submit starts afresh', async () => {
    const notebook = trainingNotebook();
    const first = await chard('submit', notebook, '--snapshot-pvc', 'workspace:/home/jovyan');
    expect(first.code).toBe(1);
    expect(lastLine(first.err)).toMatch(
      /^chard: cannot snapshot the workspace: the cluster does not serve snapshot\.storage\.k8s\.io\/v1 VolumeSnapshots/
    );
    const [stopped] = await workflows(cluster);
    expect(stopped.spec.shutdown).toBe('Terminate');
    expect(stopped.status ?? {}).toEqual({});

    const second = await chard('submit', notebook, '--snapshot-pvc', 'workspace:/home/jovyan');
    expect(second.err).not.toMatch(/attaching/);
    expect(second.code).toBe(1);
    expect(lastLine(second.err)).toMatch(/does not serve snapshot\.storage\.k8s\.io/);
    const names = (await workflows(cluster)).map(w => w.metadata.name as string).sort();
    expect(names).toHaveLength(2);
    expect(names[1]).toBe(names[0].replace(/-1$/, '-2'));
  });
});

describe('Argo and VolumeSnapshots installed', () => {
  beforeAll(async () => {
    await cluster.installCrds(['volumesnapshots', 'tensorboards']);
    await snapshotClass(cluster);
    for (const wf of await workflows(cluster)) {
      await cluster.admin.delete(`${workflowsPath(cluster)}/${wf.metadata.name}`);
    }
  }, 120000);

  it('chard cancel while the run waits for its snapshots: the run is never started', async () => {
    const notebook = trainingNotebook();
    const submitting = chard('submit', notebook, '--snapshot-pvc', 'workspace:/home/jovyan');
    const created = await until('the suspended Workflow', async () => {
      const [wf] = await workflows(cluster);
      return wf?.spec.suspend === true ? (wf.metadata.name as string) : undefined;
    });
    // From another terminal, while this submit waits.
    const cancelled = await chardProcess('cancel', created, '--cluster');
    expect(cancelled.code).toBe(0);
    // The snapshot controller (played here) makes the snapshot ready after the cancel.
    await until('the VolumeSnapshot', async () =>
      (await cluster.readySnapshots()) > 0 ? 1 : undefined
    );
    const r = await submitting;
    expect(r.code).toBe(1);
    expect(lastLine(r.err)).toBe(
      `chard: run "${created}" was cancelled while it waited for its snapshots: it was not started`
    );
    const wf = await workflow(cluster, created);
    expect(wf.spec.suspend).toBe(true);
    expect(wf.spec.shutdown).toBe('Terminate');
  });

  it('Workflows are created with strict field validation: an unknown field is an error, not pruned', async () => {
    const { loadClusterConfig } = await import('../../src/server/kube/config.js');
    const { createKubeClient, WORKFLOWS } = await import('../../src/server/kube/client.js');
    const config = loadClusterConfig({ kubeconfig: cluster.kubeconfigPath, env: {} });
    const client = createKubeClient(config.kubeConfig, config.namespace);
    const body = {
      metadata: { name: 'strict-check' },
      spec: {
        entrypoint: 'main',
        templates: [{ name: 'main', container: { name: 'main', image: 'python:3.12-slim' } }],
        parallelizm: 2
      }
    };
    await expect(client.create(WORKFLOWS, body)).rejects.toThrow(
      /unknown field "spec\.parallelizm"/
    );
    expect((await workflows(cluster)).map(w => w.metadata.name)).not.toContain('strict-check');
  });

  it("chard submit shows the API server's warnings", async () => {
    // An administrator deprecates the served Workflow version: every request gets a Warning.
    const crdPath = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/workflows.argoproj.io';
    const crd = await cluster.admin.get(crdPath);
    crd.spec.versions[0].deprecated = true;
    crd.spec.versions[0].deprecationWarning = 'argoproj.io/v1alpha1 Workflow is going away (test)';
    await cluster.admin.json('PUT', crdPath, crd);
    try {
      await until('the deprecation to be served', async () => {
        const res = await cluster.admin.raw('GET', workflowsPath(cluster));
        return res.headers.warning ? true : undefined;
      });
      const r = await chard('submit', trainingNotebook(), '--no-workspace');
      expect(r.code).toBe(0);
      expect(r.err).toContain(
        'chard: warning from the API server: argoproj.io/v1alpha1 Workflow is going away (test)\n'
      );
      expect(r.err.match(/warning from the API server/g)).toHaveLength(1);
    } finally {
      const fresh = await cluster.admin.get(crdPath);
      delete fresh.spec.versions[0].deprecated;
      delete fresh.spec.versions[0].deprecationWarning;
      await cluster.admin.json('PUT', crdPath, fresh);
    }
  });

  it("deploy/rbac.yaml's Role is enough for submit, cancel and runs; a missing permission is named", async () => {
    // The whole Role is in force for the identity chard uses (ServiceAccount chard).
    const notebook = trainingNotebook();
    const submitting = chard('submit', notebook, '--snapshot-pvc', 'workspace:/home/jovyan');
    const snapshots = setInterval(() => void cluster.readySnapshots().catch(() => 0), 200);
    let run: string;
    try {
      const r = await submitting;
      expect(r.err).not.toMatch(/forbidden|403/);
      expect(r.code).toBe(0);
      run = r.out.trim();
    } finally {
      clearInterval(snapshots);
    }
    expect((await workflow(cluster, run)).spec.suspend).toBeUndefined();
    const runs = await chard('runs', '--cluster', '--json');
    expect(runs.code).toBe(0);
    expect(runs.out).toContain(`"run":"${run}"`);
    expect((await chard('cancel', run, '--cluster')).code).toBe(0);

    // Without `create` on workflows (a Role that forgot it), the refusal says what and where.
    const role = `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles/chard`;
    const full = await cluster.admin.get(role);
    const reduced = structuredClone(full);
    reduced.rules[0].verbs = reduced.rules[0].verbs.filter((v: string) => v !== 'create');
    await cluster.admin.json('PUT', role, reduced);
    try {
      await until('RBAC to refuse', async () => {
        const r = await cluster.admin.post('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: `system:serviceaccount:${NS}:chard`,
            resourceAttributes: {
              namespace: NS,
              verb: 'create',
              group: 'argoproj.io',
              resource: 'workflows'
            }
          }
        });
        return r.status.allowed ? undefined : true;
      });
      const denied = await chard('submit', notebook, '--no-workspace', '--param', 'EPOCHS=9');
      expect(denied.code).toBe(1);
      expect(lastLine(denied.err)).toMatch(
        new RegExp(
          `^chard: forbidden \\(403\\): not allowed to create workflows\\.argoproj\\.io "[^"]+" ` +
            `in namespace "${NS}": .*cannot create resource "workflows" in API group ` +
            `"argoproj\\.io".*; grant it with deploy/rbac\\.yaml$`
        )
      );
    } finally {
      delete full.metadata.resourceVersion;
      await cluster.admin.json('PUT', role, full);
    }
  });
});
