/** A cluster step's outputs line: taken out of its log, kept where a local step keeps them. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { IRichOutput } from '../../../src/core/richoutputs.js';
import {
  readRichOutputs,
  splitOutputsLine,
  writeRichOutputs
} from '../../../src/server/common/richoutputs.js';

const SHOWN: { version: 1; outputs: IRichOutput[]; truncated: null } = {
  version: 1,
  outputs: [{ output_type: 'display_data', cell: 3, data: { 'text/plain': "'hi'" }, metadata: {} }],
  truncated: null
};

describe("a cluster step's outputs line", () => {
  it('is taken out of the log, which keeps every other line as it was', () => {
    const log = `one\nCHARD_OUTPUTS ${JSON.stringify(SHOWN)}\ntwo\nCHARD_ERROR {"cell": 3}\n`;
    expect(splitOutputsLine(log)).toEqual({
      log: 'one\ntwo\nCHARD_ERROR {"cell": 3}\n',
      outputs: { outputs: SHOWN.outputs, truncated: null }
    });
  });

  it('stays in the log when it is not an outputs document (a step printing the prefix)', () => {
    const log = 'CHARD_OUTPUTS nothing to see\nCHARD_OUTPUTS {"version": 2}\n';
    expect(splitOutputsLine(log)).toEqual({ log, outputs: null });
    expect(splitOutputsLine('plain\n')).toEqual({ log: 'plain\n', outputs: null });
  });

  it('is kept in the run folder, read back as a local step outputs, and refuses odd step ids', async () => {
    const run = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-shown-'));
    try {
      expect(await readRichOutputs(run, 'report')).toEqual({ outputs: [], truncated: null });
      await writeRichOutputs(run, 'report', { outputs: SHOWN.outputs, truncated: null });
      expect(await readRichOutputs(run, 'report')).toEqual({
        outputs: SHOWN.outputs,
        truncated: null
      });
      await expect(writeRichOutputs(run, '../x', { outputs: [], truncated: null })).rejects.toThrow(
        'is not a step id'
      );
    } finally {
      fs.rmSync(run, { recursive: true, force: true });
    }
  });
});
