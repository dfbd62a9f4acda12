/**
 * The TensorBoard service (what the HTTP API's TensorBoard endpoints adapt): which folders it
 * opens TensorBoard on for a notebook's runs, and the errors it gives a wrong request. The
 * cluster half runs against the real kube-apiserver in tests/cluster/tensorboard.spec.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IPlan, IRunRecord } from '../../../src/core/index.js';
import { newRunId, newRunRecord, runPaths } from '../../../src/server/common/records.js';
import type {
  ILocalTensorBoards,
  ITensorBoardHandle
} from '../../../src/server/tensorboard/local.js';
import type { ILogDir } from '../../../src/server/tensorboard/logdirs.js';
import {
  TensorBoardRequestError,
  TensorBoardService
} from '../../../src/server/tensorboard/service.js';
import { REPO } from './support.js';

/** TensorBoards that only remember what they were asked to open. */
class RecordingBoards implements ILocalTensorBoards {
  opened: ILogDir[][] = [];
  released: string[] = [];
  open(logdirs: readonly ILogDir[]): Promise<ITensorBoardHandle> {
    this.opened.push([...logdirs]);
    return Promise.resolve({
      id: `tb${this.opened.length}`,
      port: 6006,
      pid: 1,
      logdirs: [...logdirs],
      refs: 1,
      started: true
    });
  }
  release(id: string): Promise<void> {
    this.released.push(id);
    return Promise.resolve();
  }
  target(id: string): number | null {
    return id === 'tb1' ? 6006 : null;
  }
  list(): ITensorBoardHandle[] {
    return [];
  }
  stopAll(): Promise<void> {
    return Promise.resolve();
  }
}

/** A real plan: the example's. */
const PLAN = JSON.parse(
  fs.readFileSync(path.join(REPO, 'tests/fixtures/plans/churn.json'), 'utf8')
) as IPlan;

describe('the TensorBoard service', () => {
  let root: string;
  let notebook: string;
  let boards: RecordingBoards;
  let service: TensorBoardService;

  /** A run of the notebook, `minutesAgo` old, with `files` in its workspace. */
  function run(minutesAgo: number, files: string[], cluster?: IRunRecord['cluster']): string {
    const created = new Date(Date.now() - minutesAgo * 60000);
    const id = newRunId(created);
    const dir = path.join(root, '.chard', 'runs', id);
    const record: IRunRecord = {
      ...newRunRecord(PLAN, id, notebook, cluster, cluster ? 'argo' : 'local'),
      createdAt: created.toISOString(),
      status: 'succeeded'
    };
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(runPaths(dir).runJson, JSON.stringify(record));
    for (const file of files) {
      const full = path.join(runPaths(dir).workspace, file);
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.writeFileSync(full, '');
    }
    return id;
  }

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-tb-service-'));
    notebook = path.join(root, 'train.ipynb');
    fs.writeFileSync(notebook, '{}');
    boards = new RecordingBoards();
    service = new TensorBoardService({ rootDir: root, local: boards });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it("lists a notebook's runs newest first, each with the folders its steps wrote event files to", async () => {
    const older = run(10, ['logs/a/events.out.tfevents.1.h']);
    const newer = run(1, [
      'runs/x/events.out.tfevents.2.h',
      'tensorboard/y/events.out.tfevents.3.h'
    ]);
    const none = run(5, ['model.pkl']);
    const runs = await service.runs(notebook);
    expect(runs.map(r => [r.id, r.logdirs])).toEqual([
      [newer, ['runs', 'tensorboard']],
      [none, []],
      [older, ['logs']]
    ]);
  });

  it("opens one TensorBoard on the runs' folders and the user's, named for each run", async () => {
    const a = run(2, ['logs/fit/events.out.tfevents.1.h']);
    const b = run(1, ['logs/fit/events.out.tfevents.2.h', 'runs/z/events.out.tfevents.3.h']);
    const mine = { name: 'mine', path: path.join(root, 'experiments') };
    await service.openLocal({ notebook, runs: [a, b], logdirs: [mine] });
    const workspace = (id: string): string =>
      runPaths(path.join(root, '.chard', 'runs', id)).workspace;
    expect(boards.opened).toEqual([
      [
        mine,
        { name: a, path: path.join(workspace(a), 'logs') },
        { name: `${b}/logs`, path: path.join(workspace(b), 'logs') },
        { name: `${b}/runs`, path: path.join(workspace(b), 'runs') }
      ]
    ]);
    await service.close('tb1', 'local');
    expect(boards.released).toEqual(['tb1']);
    expect(service.target('tb1')).toBe(6006);
  });

  it('says where steps write event files when the runs wrote none, and starts nothing', async () => {
    const id = run(1, ['model.pkl']);
    const refused = service.openLocal({ notebook, runs: [id] });
    await expect(refused).rejects.toBeInstanceOf(TensorBoardRequestError);
    await expect(refused).rejects.toMatchObject({
      code: 'no-logs',
      message: expect.stringContaining('to logs/, runs/ or tensorboard/')
    });
    expect(boards.opened).toEqual([]);
  });

  it('refuses runs without their notebook, a run id that is none, and the cluster when none is set', async () => {
    const id = run(1, ['logs/events.out.tfevents.1.h']);
    await expect(service.openLocal({ runs: [id] })).rejects.toMatchObject({ code: 'invalid' });
    await expect(service.openLocal({ notebook, runs: ['../../etc'] })).rejects.toMatchObject({
      code: 'invalid',
      message: 'not a run id: "../../etc"'
    });
    await expect(service.openOnCluster({ notebook, run: id })).rejects.toMatchObject({
      code: 'no-cluster'
    });
    await expect(service.close('x', 'cluster')).rejects.toMatchObject({ code: 'no-cluster' });
    expect(boards.opened).toEqual([]);
  });

  it("uses a cluster run's event files copied into its folder by hand when no cluster is configured", async () => {
    const id = run(1, ['logs/events.out.tfevents.1.h'], {
      context: 'kind',
      namespace: 'team',
      workflow: 'train-abc'
    });
    const board = await service.openLocal({ notebook, runs: [id] });
    expect(board.logdirs.map(d => d.name)).toEqual([id]);
  });
});
