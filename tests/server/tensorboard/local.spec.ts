import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { LocalTensorBoards, TensorBoardError } from '../../../src/server/tensorboard/local.js';
import { runLogDirs } from '../../../src/server/tensorboard/logdirs.js';
import { alive, expectedLoss, get, scalars, venvPython, waitUntil, writeRuns } from './support.js';
import type { IWrittenRuns } from './support.js';

const PREFIX = '/chard/tensorboard';

describe('TensorBoard on this machine', () => {
  let root: string;
  let runs: IWrittenRuns;
  let boards: LocalTensorBoards;

  const workspace = (id: string): string => path.join(root, '.chard', 'runs', id, 'workspace');

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-tb-'));
    runs = writeRuns(root);
    boards = new LocalTensorBoards({
      python: venvPython(),
      pathPrefix: PREFIX,
      idleTimeoutMs: 60000
    });
  });

  afterAll(async () => {
    await boards.stopAll();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("serves the scalars of two runs, one with a folder per step, through TensorBoard's data API", async () => {
    const logdirs = await runLogDirs([
      { name: runs.runA, workspace: workspace(runs.runA) },
      { name: runs.runB, workspace: workspace(runs.runB) }
    ]);
    const board = await boards.open(logdirs);
    const base = `http://127.0.0.1:${board.port}${PREFIX}/${board.id}/`;
    // TensorBoard loads event files in the background: wait for all three runs. A log directory
    // holding event files itself is TensorBoard's run `<name>/.`.
    let tags: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < 100 && Object.keys(tags).length < 3; i++) {
      tags = JSON.parse((await get(`${base}data/plugin/scalars/tags`)).text) as typeof tags;
      await new Promise(r => setTimeout(r, 200));
    }
    expect(Object.keys(tags).sort()).toEqual(
      [`${runs.runA}/evaluate`, `${runs.runA}/train`, `${runs.runB}/.`].sort()
    );
    expect(Object.keys(tags[`${runs.runA}/evaluate`]).sort()).toEqual(['accuracy', 'loss']);

    const train = await scalars(base, `${runs.runA}/train`, 'loss');
    expect(train.map(p => p[1])).toEqual([...Array(runs.steps).keys()]);
    train.forEach(([, step, value]) => expect(value).toBeCloseTo(expectedLoss(step, 0), 5));
    const other = await scalars(base, `${runs.runB}/.`, 'loss');
    other.forEach(([, step, value]) => expect(value).toBeCloseTo(expectedLoss(step, 0.5), 5));

    // The same set of directories reuses the process; the last release stops it.
    const again = await boards.open([...logdirs].reverse());
    expect(again.id).toBe(board.id);
    expect(again.started).toBe(false);
    expect(again.refs).toBe(2);
    await boards.release(board.id);
    expect(alive(board.pid)).toBe(true);
    expect(boards.target(board.id)).toBe(board.port);
    await boards.release(board.id);
    expect(await waitUntil(() => !alive(board.pid), 5000)).toBe(true);
    expect(boards.target(board.id)).toBeNull();
    await expect(get(base)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('a TensorBoard started ahead of "Open TensorBoard" is the one the panel gets; one unopened is kept', async () => {
    const a = await runLogDirs([{ name: runs.runA, workspace: workspace(runs.runA) }]);
    const b = await runLogDirs([{ name: runs.runB, workspace: workspace(runs.runB) }]);
    await boards.prestart(a);
    const [ahead] = boards.list();
    expect(ahead.refs).toBe(0);
    const opened = await boards.open([...a].reverse());
    expect(opened.id).toBe(ahead.id);
    expect(opened.started).toBe(false);
    await boards.release(opened.id);
    expect(await waitUntil(() => !alive(ahead.pid), 5000)).toBe(true);

    // Two runs finish: only the later one's TensorBoard stays started for nobody.
    await boards.prestart(a);
    const [first] = boards.list();
    await boards.prestart(b);
    expect(await waitUntil(() => !alive(first.pid), 5000)).toBe(true);
    expect(boards.list().map(h => h.logdirs.map(d => d.name))).toEqual([[runs.runB]]);
    const [second] = boards.list();
    await boards.stopAll();
    expect(await waitUntil(() => !alive(second.pid), 5000)).toBe(true);
  });

  it('stops a TensorBoard that no request reached for the idle timeout', async () => {
    const idle = new LocalTensorBoards({
      python: venvPython(),
      pathPrefix: PREFIX,
      idleTimeoutMs: 1500
    });
    try {
      const board = await idle.open([{ name: 'b', path: workspace(runs.runB) }]);
      expect(alive(board.pid)).toBe(true);
      // Requests keep it running ...
      for (let i = 0; i < 4; i++) {
        await new Promise(r => setTimeout(r, 500));
        expect(idle.target(board.id)).toBe(board.port);
      }
      expect(alive(board.pid)).toBe(true);
      // ... and without them it stops although its panel is still open.
      expect(await waitUntil(() => !alive(board.pid), 6000)).toBe(true);
      expect(idle.target(board.id)).toBeNull();
    } finally {
      await idle.stopAll();
    }
  });

  it('says how to install TensorBoard when the Python has none', async () => {
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-nopy-'));
    // A Python whose tensorboard import fails: the venv's with a shadowing broken package.
    fs.mkdirSync(path.join(bare, 'tensorboard'));
    fs.writeFileSync(
      path.join(bare, 'tensorboard', '__init__.py'),
      'raise ImportError("No module named tensorboard")\n'
    );
    const python = path.join(bare, 'python');
    fs.writeFileSync(python, `#!/bin/sh\nPYTHONPATH=${bare} exec ${venvPython()} "$@"\n`, {
      mode: 0o755
    });
    const none = new LocalTensorBoards({ python, pathPrefix: PREFIX });
    try {
      const opened = none.open([{ name: 'b', path: workspace(runs.runB) }]);
      await expect(opened).rejects.toBeInstanceOf(TensorBoardError);
      await expect(opened).rejects.toMatchObject({
        code: 'tensorboard-not-installed',
        message: expect.stringContaining(`${python} -m pip install tensorboard`)
      });
    } finally {
      await none.stopAll();
      fs.rmSync(bare, { recursive: true, force: true });
    }
  });
});
