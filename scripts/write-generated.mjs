// Writes a generated source file for the build scripts: atomically (temporary file, then rename),
// and only when its text changed, so that `tsc -b` does not rebuild what did not change.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeGenerated(out, text) {
  mkdirSync(dirname(out), { recursive: true });
  let previous = '';
  try {
    previous = readFileSync(out, 'utf8');
  } catch {
    // first build
  }
  if (previous !== text) {
    writeFileSync(out + '.tmp', text);
    renameSync(out + '.tmp', out);
  }
}
