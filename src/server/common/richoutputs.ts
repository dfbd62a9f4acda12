/**
 * A step's rich outputs in a run folder: `data/<step-id>/_outputs.json`, written by the step
 * runtime (src/runtime/chard_runtime/outputs.py) as the step's cells show things.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

import type { IStepOutputs } from '../../core/richoutputs.js';
import { parseRichOutputs, RICH_OUTPUTS_FILE } from '../../core/richoutputs.js';
import { errorReason } from './files.js';
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
