/**
 * The files a local run's steps wrote: they live in the run's workspace
 * (`.chard/runs/RUN/workspace/`), never in the notebook's folder. `listOutputs` finds them (a
 * file the steps created or changed: modified after the run was created, with content other
 * than the notebook folder's file of that name); `copyOutputs` copies chosen ones next to the
 * notebook, each atomically, refusing to replace a different file unless forced.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

import type { IRunOutput } from '../../core/api.js';
import type { IRunRecord } from '../../core/runs.js';
import { copyFileAtomic } from '../common/files.js';
import { ServiceError } from '../service/errors.js';

const SKIP: ReadonlySet<string> = new Set(['__pycache__', '.ipynb_checkpoints']);

/** The outputs of a run whose workspace is `workspace`, copied (if asked) into `target`. */
export async function listOutputs(
  workspace: string,
  record: IRunRecord,
  target: string
): Promise<IRunOutput[]> {
  const since = Date.parse(record.createdAt);
  const out: IRunOutput[] = [];
  for (const rel of await Private.files(workspace)) {
    const stat = await fsp.stat(path.join(workspace, rel));
    if (stat.mtimeMs < since) {
      continue; // as the snapshot took it
    }
    const state = await Private.compare(path.join(workspace, rel), path.join(target, rel));
    if (state !== 'same') {
      out.push({ path: rel, size: stat.size, conflict: state === 'different' });
    }
  }
  return out;
}

/**
 * Copy `chosen` (files or folders relative to the workspace; empty: every output) into
 * `target`. Nothing is copied when a file there differs and `force` is not set, or when a
 * path leaves the workspace or the target.
 */
export async function copyOutputs(
  workspace: string,
  record: IRunRecord,
  target: string,
  chosen: readonly string[],
  force: boolean
): Promise<string[]> {
  const outputs = await listOutputs(workspace, record, target);
  const files: string[] = [];
  if (chosen.length === 0) {
    files.push(...outputs.map(o => o.path));
  } else {
    for (const spec of chosen) {
      const rel = Private.relative(workspace, spec);
      const abs = path.join(workspace, rel);
      const stat = await fsp.stat(abs).catch(() => null);
      if (!stat) {
        throw new ServiceError(
          `${spec}: not in run ${record.id}'s workspace (see: chard outputs ${record.id})`,
          true
        );
      }
      if (stat.isDirectory()) {
        const inside = outputs.filter(o => o.path.startsWith(rel === '' ? '' : `${rel}/`));
        files.push(...inside.map(o => o.path));
      } else {
        files.push(rel);
      }
    }
  }
  const unique = [...new Set(files)].sort();
  const realTarget = await fsp.realpath(target);
  const conflicts: string[] = [];
  for (const rel of unique) {
    const state = await Private.compare(path.join(workspace, rel), path.join(target, rel));
    if (state === 'different' && !force) {
      conflicts.push(rel);
    }
    if (state === 'not-a-file') {
      throw new ServiceError(`${path.join(target, rel)} is not a file; nothing was copied`);
    }
  }
  if (conflicts.length > 0) {
    throw new ServiceError(
      `${conflicts.join(', ')}: a different file of that name is next to the notebook; ` +
        'nothing was copied (give --force to replace it)'
    );
  }
  const copied: string[] = [];
  for (const rel of unique) {
    const dest = path.join(target, rel);
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    const realDir = await fsp.realpath(path.dirname(dest));
    if (realDir !== realTarget && !realDir.startsWith(realTarget + path.sep)) {
      throw new ServiceError(`${rel}: its folder leaves ${target} (a symbolic link); not copied`);
    }
    if ((await Private.compare(path.join(workspace, rel), dest)) === 'same') {
      continue;
    }
    await copyFileAtomic(path.join(workspace, rel), dest);
    copied.push(rel);
  }
  return copied;
}

namespace Private {
  /** A path the user gave, relative to the workspace; one that leaves it is refused. */
  export function relative(workspace: string, spec: string): string {
    const inWorkspace = spec.startsWith(workspace + path.sep)
      ? path.relative(workspace, spec)
      : spec;
    const normal = path.normalize(inWorkspace).replace(/\/+$/, '');
    if (path.isAbsolute(normal) || normal === '..' || normal.startsWith(`..${path.sep}`)) {
      throw new ServiceError(`${spec}: give a path inside the run's workspace`, true);
    }
    return normal === '.' ? '' : normal;
  }

  /** Every regular file under `root`, relative, sorted. */
  export async function files(root: string): Promise<string[]> {
    const out: string[] = [];
    const visit = async (dir: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const abs = path.join(dir, entry.name);
        if (entry.isDirectory() && !SKIP.has(entry.name)) {
          await visit(abs);
        } else if (entry.isFile()) {
          out.push(path.relative(root, abs));
        }
      }
    };
    await visit(root);
    return out.sort();
  }

  /** How `dest` compares with `src`: absent, the same bytes, different, or not a file. */
  export async function compare(
    src: string,
    dest: string
  ): Promise<'absent' | 'same' | 'different' | 'not-a-file'> {
    const stat = await fsp.lstat(dest).catch(() => null);
    if (!stat) {
      return 'absent';
    }
    if (!stat.isFile()) {
      return 'not-a-file';
    }
    const srcStat = await fsp.stat(src);
    if (srcStat.size !== stat.size) {
      return 'different';
    }
    const [a, b] = await Promise.all([fsp.readFile(src), fsp.readFile(dest)]);
    return a.equals(b) ? 'same' : 'different';
  }
}
