/**
 * Jest setup: every test file gets its own run index (CHARD_STATE_DIR), inherited by the
 * `chard` processes it starts, so tests never write to the user's ~/.local/state.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

process.env.CHARD_STATE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-state-'));
