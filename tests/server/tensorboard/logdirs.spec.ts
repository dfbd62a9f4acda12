import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { findLogDirs, logDirSpec, runLogDirs } from '../../../src/server/tensorboard/logdirs.js';

function touch(root: string, file: string): void {
  fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  fs.writeFileSync(path.join(root, file), '');
}

describe("finding a run's log directories in its workspace", () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-logdirs-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('lists logs/, runs/, tensorboard/ once each, and other folders holding event files', async () => {
    touch(root, 'logs/train/events.out.tfevents.1.host');
    touch(root, 'logs/evaluate/deep/events.out.tfevents.2.host');
    touch(root, 'runs/Jan01_x/events.out.tfevents.3.host');
    touch(root, 'experiments/a/events.out.tfevents.4.host');
    touch(root, 'experiments/a/b/events.out.tfevents.5.host');
    touch(root, 'tensorboard/notes.txt'); // no event files: not a log directory
    touch(root, 'data/train.csv');
    touch(root, '.chard/runs/x/workspace/logs/events.out.tfevents.6.host'); // Chard's own: skipped
    expect(await findLogDirs(root)).toEqual(['experiments/a', 'logs', 'runs']);
  });

  it('names each run, and each of its folders when there are several', async () => {
    touch(root, 'a/logs/events.out.tfevents.1.host');
    touch(root, 'b/logs/events.out.tfevents.2.host');
    touch(root, 'b/runs/x/events.out.tfevents.3.host');
    touch(root, 'c/readme.md');
    const dirs = await runLogDirs([
      { name: 'run:a', workspace: path.join(root, 'a') },
      { name: 'b', workspace: path.join(root, 'b') },
      { name: 'c', workspace: path.join(root, 'c') }
    ]);
    expect(dirs.map(d => [d.name, path.relative(root, d.path)])).toEqual([
      ['run_a', 'a/logs'],
      ['b/logs', 'b/logs'],
      ['b/runs', 'b/runs']
    ]);
    expect(logDirSpec(dirs)).toBe(
      `run_a:${root}/a/logs,b/logs:${root}/b/logs,b/runs:${root}/b/runs`
    );
  });

  it('a workspace that holds event files itself is `.` (which holds the others)', async () => {
    touch(root, 'events.out.tfevents.1.host');
    touch(root, 'logs/events.out.tfevents.2.host');
    expect(await findLogDirs(root)).toEqual(['.']);
  });
});
