/**
 * Cancelling a local run from another process (`chard cancel RUN`): signal the runner recorded in
 * the run, which stops its steps and records the run as cancelled; if the runner is gone (killed,
 * crashed), stop the recorded step process groups directly and record the cancellation here.
 */
import type { IRunRecord } from '../../core/index.js';
import { isFinished } from '../../core/index.js';
import { sleep } from '../common/retry.js';
import { groupMembers, isProcessAlive, stopGroup } from './processes.js';
import { readRunPids, readRunRecord, runPaths } from '../common/records.js';
import { writeJsonAtomic } from '../common/files.js';

export interface ICancelResult {
  record: IRunRecord;
  /** How the run was stopped. */
  how: 'already-finished' | 'runner' | 'direct';
}

export async function cancelRun(dir: string, graceMs = 5000): Promise<ICancelResult> {
  let record = await readRunRecord(dir);
  if (isFinished(record.status)) {
    return { record, how: 'already-finished' };
  }
  const pids = await readRunPids(dir);
  if (
    pids &&
    pids.runner.pid !== process.pid &&
    isProcessAlive(pids.runner.pid, pids.runner.start)
  ) {
    try {
      process.kill(pids.runner.pid, 'SIGTERM');
    } catch {
      // it just ended
    }
    const deadline = Date.now() + graceMs + 10000;
    while (Date.now() < deadline) {
      await sleep(100);
      record = await readRunRecord(dir);
      if (isFinished(record.status)) {
        return { record, how: 'runner' };
      }
      if (!isProcessAlive(pids.runner.pid, pids.runner.start)) {
        break;
      }
    }
  }
  // The runner is gone (or does not answer): stop the steps ourselves.
  const latest = (await readRunPids(dir)) ?? pids;
  if (latest) {
    await Promise.all(
      Object.values(latest.steps).map(async ref => {
        const leaderMatches = isProcessAlive(ref.pid, ref.start);
        if (leaderMatches || groupMembers(ref.pid).length > 0) {
          await stopGroup(ref.pid, graceMs);
        }
      })
    );
  }
  record = await readRunRecord(dir);
  if (!isFinished(record.status)) {
    const time = new Date().toISOString();
    for (const step of record.steps) {
      if (step.status === 'running' || step.status === 'pending') {
        step.finishedAt = step.status === 'running' ? time : null;
        step.status = 'cancelled';
        step.message = 'cancelled';
      }
    }
    if (record.pids) {
      record.pids.steps = {};
    }
    record.status = 'cancelled';
    record.finishedAt = time;
    record.message = 'cancelled (the runner was gone; its steps were stopped by chard cancel)';
    await writeJsonAtomic(runPaths(dir).runJson, record);
  }
  return { record, how: 'direct' };
}
