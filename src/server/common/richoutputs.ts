/**
 * A step's rich outputs in a run folder: `data/<step-id>/_outputs.json`, written by the step
 * runtime (src/runtime/chard_runtime/outputs.py) as the step's cells show things; for a cluster
 * step, taken from the line of its log that carries them (`CHARD_OUTPUTS {...}`).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

import type { IStepOutputs } from '../../core/richoutputs.js';
import {
  parseRichOutputs,
  RICH_OUTPUTS_FILE,
  RICH_OUTPUTS_LOG_PREFIX
} from '../../core/richoutputs.js';
import { errorReason, writeFileAtomic } from './files.js';
import { RunRecordError, runPaths } from './records.js';

/** Step ids are DNS-1123 labels; anything else never becomes a path. */
const STEP_ID = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * What step `stepId` of the run in `runDir` showed so far: no outputs when it showed nothing
 * (or has not run); a RunRecordError when the file is unreadable or not the runtime's.
 */
export async function readRichOutputs(
  runDir: string,
  stepId: string
): Promise<Pick<IStepOutputs, 'outputs' | 'truncated'>> {
  if (!STEP_ID.test(stepId)) {
    throw new RunRecordError(`${JSON.stringify(stepId)} is not a step id`);
  }
  const file = path.join(runPaths(runDir).data, stepId, RICH_OUTPUTS_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { outputs: [], truncated: null };
    }
    throw new RunRecordError(`${file}: cannot be read (${errorReason(error)})`);
  }
  const parsed = parseRichOutputs(text);
  if (parsed === null) {
    throw new RunRecordError(`${file}: not the outputs file of a Chard step`);
  }
  return parsed;
}

/** A step's log without its outputs line, and the outputs that line carried (null: none). */
export interface ISplitLog {
  log: string;
  outputs: Pick<IStepOutputs, 'outputs' | 'truncated'> | null;
}

/**
 * Take the outputs line out of a cluster step's log (the last one wins; a line that is not a
 * valid outputs document stays in the log, as the step printed it).
 */
export function splitOutputsLine(text: string): ISplitLog {
  if (!text.includes(RICH_OUTPUTS_LOG_PREFIX)) {
    return { log: text, outputs: null };
  }
  let outputs: ISplitLog['outputs'] = null;
  const kept = text.split('\n').filter(line => {
    if (!line.startsWith(RICH_OUTPUTS_LOG_PREFIX)) {
      return true;
    }
    const parsed = parseRichOutputs(line.slice(RICH_OUTPUTS_LOG_PREFIX.length));
    if (parsed === null) {
      return true;
    }
    outputs = parsed;
    return false;
  });
  return { log: kept.join('\n'), outputs };
}

/** Keep what a cluster step showed where a local step's runtime keeps it (atomically). */
export async function writeRichOutputs(
  runDir: string,
  stepId: string,
  outputs: Pick<IStepOutputs, 'outputs' | 'truncated'>
): Promise<void> {
  if (!STEP_ID.test(stepId)) {
    throw new RunRecordError(`${JSON.stringify(stepId)} is not a step id`);
  }
  const dir = path.join(runPaths(runDir).data, stepId);
  await fsp.mkdir(dir, { recursive: true });
  await writeFileAtomic(
    path.join(dir, RICH_OUTPUTS_FILE),
    JSON.stringify({ version: 1, outputs: outputs.outputs, truncated: outputs.truncated })
  );
}
