/** The `chard` entry point: help, unknown commands, and routing of runs/logs/cancel. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IRunRecord } from '../../src/core/runs.js';

const CHARD = join(process.cwd(), 'bin/chard.js');

function chard(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CHARD, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: join(cwd, 'no-such-kubeconfig') }
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function clusterRun(dir: string): IRunRecord {
  const record: IRunRecord = {
    version: 1,
    id: 'churn-0a1b2c3d4e-1',
    backend: 'argo',
    pipeline: 'churn',
    notebook: 'churn.ipynb',
    status: 'succeeded',
    createdAt: '2026-11-30T04:00:00.000Z',
    startedAt: '2026-11-30T04:00:01.000Z',
    finishedAt: '2026-11-30T04:01:00.000Z',
    parameters: {},
    steps: [
      {
        name: 'load_data',
        id: 'load-data',
        status: 'succeeded',
        startedAt: null,
        finishedAt: null,
        exitCode: 0,
        message: null,
        cell: null,
        line: null,
        metrics: {},
        outputs: []
      }
    ],
    message: null,
    cluster: { namespace: 'kubeflow-user', workflow: 'churn-0a1b2c3d4e-1' }
  };
  const runDir = join(dir, '.chard', 'runs', record.id);
  mkdirSync(join(runDir, 'logs'), { recursive: true });
  writeFileSync(join(runDir, 'run.json'), JSON.stringify(record));
  writeFileSync(join(runDir, 'logs', 'load-data.log'), 'loaded 4000 rows\n');
  return record;
}

describe('chard', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chard-main-'));

  it('prints its usage with --help and exits 2 without a command', () => {
    const help = chard(dir, '--help');
    expect(help.code).toBe(0);
    for (const command of ['analyze', 'compile', 'run', 'submit', 'runs', 'logs', 'cancel']) {
      expect(help.stdout).toContain(`  ${command} `);
    }
    expect(chard(dir).code).toBe(2);
  });

  it('routes logs of a cluster run to the stored cluster logs, with no cluster needed', () => {
    const record = clusterRun(dir);
    const r = chard(dir, 'logs', record.id, 'load_data');
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('loaded 4000 rows');
    expect(r.code).toBe(0);
  });

  it('routes --cluster to the cluster and says plainly when there is no cluster access', () => {
    const r = chard(dir, 'runs', '--cluster');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no cluster access/);
  });

  it('says which run it could not find', () => {
    const r = chard(dir, 'logs', 'no-such-run');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('"no-such-run"');
  });
});
