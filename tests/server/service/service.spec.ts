/**
 * The run service, driven the way the `chard` command drives it and the way an HTTP client
 * will: start, follow events (live and replayed after a sequence number), find a run by id from
 * anywhere, settle a run whose runner was killed, cancel, resume, and copy outputs back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IRunEventEnvelope } from '../../../src/core/api.js';
import type { IRunRecord, RunEvent } from '../../../src/core/runs.js';
import { createRunService, ServiceError } from '../../../src/server/index.js';
import type { RunService } from '../../../src/server/index.js';
import { isProcessAlive } from '../../../src/server/local/processes.js';
import { chard, events as parseEvents, PYTHON, startChard } from '../../e2e/support.js';
import { waitFor, writeNotebook } from '../local/support.js';
import type { ICellSpec } from '../local/support.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'chard-service-'));
}

/** A service as a process started somewhere else would have it (another working directory). */
function elsewhere(): RunService {
  return createRunService({ root: tempDir() });
}

async function collect(source: AsyncIterable<IRunEventEnvelope>): Promise<IRunEventEnvelope[]> {
  const out: IRunEventEnvelope[] = [];
  for await (const envelope of source) {
    out.push(envelope);
  }
  return out;
}

const kinds = (list: RunEvent[]): string[] =>
  list.map(e => ('step' in e ? `${e.event}:${e.step}` : e.event));

/** Gates and pid files of the gated runs, opened and killed after each test even when it failed. */
const gated: { gate: string; pidFile: string }[] = [];

/** A run blocked in step `wait` until `gate` exists; its child process writes its pid. */
function gatedNotebook(gate: string, pidFile: string): ICellSpec[] {
  gated.push({ gate, pidFile });
  return [
    { tags: ['imports'], source: 'import os, subprocess, time' },
    { tags: ['step:first'], source: 'x = 1' },
    {
      tags: ['step:wait', 'prev:first'],
      source:
        'child = subprocess.Popen(["sleep", "600"])\n' +
        `open(${JSON.stringify(pidFile)}, "w").write(str(child.pid))\n` +
        `while not os.path.exists(${JSON.stringify(gate)}):\n    time.sleep(0.05)\n` +
        'y = x + 1'
    },
    { tags: ['step:after', 'prev:wait'], source: 'z = y + 1' }
  ];
}

describe('RunService', () => {
  const service = createRunService();

  // A test that fails half way must not leave its run waiting on a gate (and Jest waiting on it).
  afterEach(() => {
    for (const { gate, pidFile } of gated.splice(0)) {
      fs.writeFileSync(gate, '');
      const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
      if (pid > 0 && isProcessAlive(pid)) {
        process.kill(pid, 'SIGKILL');
      }
    }
  });

  it('gives the same events through events() as `chard run --json` prints, and replays after any seq', async () => {
    const { notebook } = writeNotebook([
      { tags: ['step:load'], source: 'rows = [1, 2, 3]\nprint("loaded", len(rows))' },
      { tags: ['step:total', 'prev:load'], source: 'total = sum(rows)\nprint("total", total)' },
      { tags: ['pipeline-metrics'], source: 'print(total)' }
    ]);
    const cli = await chard(
      ['run', notebook, '--python', PYTHON, '--json'],
      path.dirname(notebook)
    );
    expect(cli.code).toBe(0);
    const printed = parseEvents(cli.stdout) as unknown as RunEvent[];
    const id = printed[printed.length - 1].run;

    // The same run, found by its id by a service in another directory.
    const other = elsewhere();
    const all = await collect(other.events(id));
    expect(all.map(e => e.event)).toEqual(printed);
    expect(all.map(e => e.seq)).toEqual(printed.map((_, i) => i + 1));
    expect(kinds(printed)).toEqual(
      expect.arrayContaining([
        'run-started',
        'step-started:load',
        'step-finished:total',
        'metric:total',
        'run-finished'
      ])
    );
    for (const k of [0, 1, 3, all.length - 1, all.length]) {
      expect(await collect(other.events(id, { after: k }))).toEqual(all.slice(k));
    }
    const details = await other.get(id);
    expect(details.record.status).toBe('succeeded');
    expect(details.notebook).toBe(notebook);
    // `chard logs RUN` from any directory finds it too.
    const logs = await chard(['logs', id, 'total'], os.tmpdir());
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('total 6\n');
  });

  it('start returns while the run goes on; events() follows it live, and a reconnect resumes after the last seq', async () => {
    const dir = tempDir();
    const gate = path.join(dir, 'go');
    const { notebook } = writeNotebook(gatedNotebook(gate, path.join(dir, 'pid')));
    const details = await service.start({
      notebook,
      target: 'local',
      local: { python: PYTHON, parallel: 2 }
    });
    expect(details.since).toBe(0);
    expect(['pending', 'running']).toContain(details.record.status);
    const id = details.record.id;

    // A client follows, "disconnects" after step wait started, then reconnects after that seq.
    const controller = new AbortController();
    const seen: IRunEventEnvelope[] = [];
    for await (const envelope of service.events(id, { signal: controller.signal })) {
      seen.push(envelope);
      if (envelope.event.event === 'step-started' && envelope.event.step === 'wait') {
        controller.abort();
      }
    }
    expect(seen[seen.length - 1].event).toMatchObject({ event: 'step-started', step: 'wait' });
    fs.writeFileSync(gate, '');
    const rest = await collect(service.events(id, { after: seen[seen.length - 1].seq }));
    expect(rest[rest.length - 1].event).toMatchObject({
      event: 'run-finished',
      status: 'succeeded'
    });
    const everything = await collect(service.events(id));
    expect([...seen, ...rest]).toEqual(everything);
    expect((await service.wait(id)).status).toBe('succeeded');
    expect((await service.list({ notebook })).map(r => r.id)).toEqual([id]);
  });

  it('settles a run whose runner was killed with SIGKILL as failed, never running forever', async () => {
    const dir = tempDir();
    const gate = path.join(dir, 'go');
    const pidFile = path.join(dir, 'pid');
    const { notebook } = writeNotebook(gatedNotebook(gate, pidFile));
    const run = startChard(['run', notebook, '--python', PYTHON, '--json'], dir);
    await waitFor(() => fs.existsSync(pidFile) && run.stdout().includes('"step":"wait"'), 30000);
    const notebookDir = path.dirname(notebook);
    const id = (parseEvents(run.stdout())[0] as { run: string }).run;
    run.child.kill('SIGKILL');
    await run.exited;

    const other = elsewhere();
    const details = await other.get(id);
    expect(details.record.status).toBe('failed');
    expect(details.record.message).toMatch(/^interrupted: the runner process is gone/);
    const steps = Object.fromEntries(details.record.steps.map(s => [s.name, s.status]));
    expect(steps).toEqual({ first: 'succeeded', wait: 'failed', after: 'skipped' });
    // A follower gets the end of the run instead of waiting forever.
    const all = await collect(other.events(id));
    expect(all[all.length - 1].event).toMatchObject({ event: 'run-finished', status: 'failed' });
    // and nothing the run started is left
    const child = Number(fs.readFileSync(pidFile, 'utf8'));
    await waitFor(() => !isProcessAlive(child), 10000);
    // `chard runs` shows it interrupted, not running
    const listed = await chard(['runs'], notebookDir);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+flow\\s+interrupted`));
  });

  it('recover() settles every indexed run whose runner is gone, when a service starts', async () => {
    const dir = tempDir();
    const gate = path.join(dir, 'go');
    const pidFile = path.join(dir, 'pid');
    const { notebook } = writeNotebook(gatedNotebook(gate, pidFile));
    const run = startChard(['run', notebook, '--python', PYTHON, '--json'], dir);
    await waitFor(() => fs.existsSync(pidFile), 30000);
    const id = (parseEvents(run.stdout())[0] as { run: string }).run;
    run.child.kill('SIGKILL');
    await run.exited;
    const record = (): IRunRecord =>
      JSON.parse(
        fs.readFileSync(path.join(path.dirname(notebook), '.chard', 'runs', id, 'run.json'), 'utf8')
      ) as IRunRecord;
    expect(record().status).toBe('running');
    const changed = await elsewhere().recover();
    expect(changed.map(r => [r.id, r.status])).toContainEqual([id, 'failed']);
    expect(record().status).toBe('failed');
  });

  it('cancel ends the run with its steps cancelled and no process left', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'pid');
    const { notebook } = writeNotebook(gatedNotebook(path.join(dir, 'never'), pidFile));
    const details = await service.start({
      notebook,
      target: 'local',
      local: { python: PYTHON, graceSeconds: 1 }
    });
    const id = details.record.id;
    await waitFor(() => fs.existsSync(pidFile), 30000);
    const stepPid = (await service.get(id)).record.pids?.steps.wait as number;
    const child = Number(fs.readFileSync(pidFile, 'utf8'));
    const result = await service.cancel(id, { graceSeconds: 1 });
    expect(result.record?.status).toBe('cancelled');
    const steps = Object.fromEntries(result.record!.steps.map(s => [s.name, s.status]));
    expect(steps).toEqual({ first: 'succeeded', wait: 'cancelled', after: 'cancelled' });
    await waitFor(() => !isProcessAlive(stepPid) && !isProcessAlive(child), 10000);
    const all = await collect(service.events(id));
    expect(all[all.length - 1].event).toMatchObject({ event: 'run-finished', status: 'cancelled' });
    expect((await service.cancel(id)).how).toBe('already-finished');
  });

  it('resume re-runs only the failed step and what follows it', async () => {
    const dir = tempDir();
    const fixed = path.join(dir, 'fixed');
    const { notebook } = writeNotebook([
      { tags: ['imports'], source: 'import os' },
      { tags: ['step:make'], source: 'values = [1, 2, 3]' },
      {
        tags: ['step:check', 'prev:make'],
        source: `assert os.path.exists(${JSON.stringify(fixed)}), "not fixed"\nchecked = values`
      },
      { tags: ['step:side', 'prev:make'], source: 'side = len(values)' },
      { tags: ['step:total', 'prev:check', 'prev:side'], source: 'total = sum(checked) + side' }
    ]);
    const first = await service.start({ notebook, target: 'local', local: { python: PYTHON } });
    const before = await service.wait(first.record.id);
    expect(before.status).toBe('failed');
    expect(before.steps.find(s => s.name === 'total')?.message).toBe(
      'step "check" did not succeed'
    );
    fs.writeFileSync(fixed, '');
    const resumed = await service.resume(first.record.id, { local: { python: PYTHON } });
    expect(resumed.since).toBeGreaterThan(0);
    const attempt = (await collect(service.events(first.record.id, { after: resumed.since }))).map(
      e => e.event
    );
    expect(kinds(attempt).filter(k => k.startsWith('step-started'))).toEqual([
      'step-started:check',
      'step-started:total'
    ]);
    const after = await service.wait(first.record.id);
    expect(after.status).toBe('succeeded');
    const at = (r: IRunRecord, name: string) => r.steps.find(s => s.name === name)!;
    expect(at(after, 'make').startedAt).toBe(at(before, 'make').startedAt);
    expect(at(after, 'side').startedAt).toBe(at(before, 'side').startedAt);
  });

  it('says where the steps wrote their files and copies chosen ones next to the notebook, never over a different file', async () => {
    const { notebook, dir } = writeNotebook(
      [
        {
          tags: ['step:write'],
          source:
            'open("report.csv", "w").write("a,b\\n1,2\\n")\n' +
            'import os\nos.makedirs("plots", exist_ok=True)\n' +
            'open("plots/p.txt", "w").write("plot")\nn = 1'
        }
      ],
      { 'input.txt': 'kept' }
    );
    const started = await service.start({ notebook, target: 'local', local: { python: PYTHON } });
    const id = started.record.id;
    expect((await service.wait(id)).status).toBe('succeeded');
    expect(started.workspace).toBe(path.join(dir, '.chard', 'runs', id, 'workspace'));
    // nothing was written next to the notebook
    expect(fs.existsSync(path.join(dir, 'report.csv'))).toBe(false);
    const outputs = await service.outputs(id);
    expect(outputs.map(o => [o.path, o.conflict])).toEqual([
      ['plots/p.txt', false],
      ['report.csv', false]
    ]);
    // a different report.csv next to the notebook: refused, nothing copied
    fs.writeFileSync(path.join(dir, 'report.csv'), 'mine');
    await expect(service.copyOutputs(id)).rejects.toThrow(ServiceError);
    expect(fs.readFileSync(path.join(dir, 'report.csv'), 'utf8')).toBe('mine');
    expect(fs.existsSync(path.join(dir, 'plots'))).toBe(false);
    // a chosen folder is copied; with force the report replaces the user's file
    expect((await service.copyOutputs(id, { paths: ['plots'] })).copied).toEqual(['plots/p.txt']);
    expect(fs.readFileSync(path.join(dir, 'plots', 'p.txt'), 'utf8')).toBe('plot');
    await expect(service.copyOutputs(id, { paths: ['../../etc'] })).rejects.toThrow(
      'give a path inside'
    );
    const cli = await chard(['outputs', id, 'report.csv', '--copy'], os.tmpdir());
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/report\.csv: a different file .*give --force/);
    expect((await chard(['outputs', id, 'report.csv', '--copy', '--force'], dir)).code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'report.csv'), 'utf8')).toBe('a,b\n1,2\n');
    expect(fs.readdirSync(dir).filter(f => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reports what cannot be found or started as errors, not crashes', async () => {
    await expect(service.get('20000101-000000-000000')).rejects.toMatchObject({
      name: 'ServiceError',
      notFound: true
    });
    const { notebook } = writeNotebook([{ tags: ['step:a'], source: 'a = 1' }]);
    await expect(
      service.start({ notebook, target: 'local', parameters: { NOPE: 1 } })
    ).rejects.toMatchObject({ usage: true });
    await expect(
      service.start({ notebook: path.join(tempDir(), 'none.ipynb'), target: 'local' })
    ).rejects.toThrow('cannot read the notebook (no such file)');
  });
});
