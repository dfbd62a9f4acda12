/**
 * Where a run's steps wrote TensorBoard event files: the folders of its workspace named `logs/`,
 * `runs/` or `tensorboard/` that hold event files, and any other folder holding
 * `events.out.tfevents.*`, each reported once at its topmost folder (TensorBoard reads the
 * folders below a log directory itself, one TensorBoard "run" per folder with event files).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** A named log directory, as `tensorboard --logdir_spec name:dir` takes it. */
export interface ILogDir {
  /** The name TensorBoard shows (no `:` or `,`). */
  name: string;
  /** Absolute path. */
  path: string;
}

/** Folder names that conventionally hold event files (PyTorch `runs/`, Keras `logs/` ...). */
export const CONVENTIONAL_DIRS: readonly string[] = ['logs', 'runs', 'tensorboard'];

const EVENT_FILE = /^events\.out\.tfevents\./;
const SKIP: ReadonlySet<string> = new Set([
  '.git',
  '.chard',
  'node_modules',
  '.ipynb_checkpoints',
  '__pycache__',
  '.venv',
  'venv'
]);

/** Whether `dir` (or a folder below it, up to `maxDepth`) holds an event file. */
export async function holdsEventFiles(dir: string, maxDepth = 6): Promise<boolean> {
  return (await eventFolders(dir, maxDepth)).length > 0;
}

/** Folders at or below `dir` that directly hold event files. */
async function eventFolders(dir: string, maxDepth: number): Promise<string[]> {
  const found: string[] = [];
  const visit = async (folder: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(folder, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some(e => e.isFile() && EVENT_FILE.test(e.name))) {
      found.push(folder);
    }
    if (depth >= maxDepth) {
      return;
    }
    for (const entry of entries) {
      if (entry.isDirectory() && !SKIP.has(entry.name)) {
        await visit(path.join(folder, entry.name), depth + 1);
      }
    }
  };
  await visit(dir, 0);
  return found;
}

/**
 * The log directories of a workspace, relative names first: each conventional folder that holds
 * event files, then the topmost other folders holding them (`.` for the workspace itself).
 */
export async function findLogDirs(workspace: string, maxDepth = 6): Promise<string[]> {
  const root = path.resolve(workspace);
  const folders = await eventFolders(root, maxDepth);
  const tops = new Set<string>();
  for (const folder of folders) {
    const rel = path.relative(root, folder);
    const first = rel.split(path.sep)[0];
    if (rel !== '' && CONVENTIONAL_DIRS.includes(first)) {
      tops.add(first);
    } else {
      tops.add(rel === '' ? '.' : rel);
    }
  }
  // A folder below another one already listed is read by TensorBoard through its parent (the
  // workspace itself, `.`, holds them all).
  if (tops.has('.')) {
    return ['.'];
  }
  const sorted = [...tops].sort();
  return sorted.filter(dir => !sorted.some(other => other !== dir && dir.startsWith(`${other}/`)));
}

/** A name TensorBoard accepts in `--logdir_spec` (no `:` or `,`). */
export function logDirName(text: string): string {
  return text.replace(/[:,]/g, '_');
}

/**
 * The named log directories of several runs: one entry per run when its steps wrote to one
 * folder (named for the run), else `run/folder` for each.
 */
export async function runLogDirs(
  runs: readonly { name: string; workspace: string }[]
): Promise<ILogDir[]> {
  const result: ILogDir[] = [];
  for (const run of runs) {
    const dirs = await findLogDirs(run.workspace);
    for (const dir of dirs) {
      const name = dirs.length === 1 ? run.name : `${run.name}/${dir}`;
      result.push({ name: logDirName(name), path: path.resolve(run.workspace, dir) });
    }
  }
  return result;
}

/** The `--logdir_spec` value for named log directories. */
export function logDirSpec(dirs: readonly ILogDir[]): string {
  return dirs.map(d => `${logDirName(d.name)}:${d.path}`).join(',');
}

/** What `copyEventFiles` copied. */
export interface ICopiedEventFiles {
  files: number;
  bytes: number;
}

/**
 * Copy the event files below `from` (up to `maxDepth` folders deep, skipping `.chard` and the
 * like) whose modification time lies in `[since, until]` to the same relative paths below `to`:
 * the event files a run wrote into a folder it shared with other runs and with the notebook
 * itself. Each file is copied under a temporary name and renamed into place; a file already
 * copied (same size and modification time) is skipped, so copying again is cheap.
 */
export async function copyEventFiles(
  from: string,
  to: string,
  since: number,
  until: number,
  maxDepth = 6
): Promise<ICopiedEventFiles> {
  const copied: ICopiedEventFiles = { files: 0, bytes: 0 };
  const source = path.resolve(from);
  for (const folder of await eventFolders(source, maxDepth)) {
    const target = path.join(path.resolve(to), path.relative(source, folder));
    for (const entry of await fsp.readdir(folder, { withFileTypes: true })) {
      if (!entry.isFile() || !EVENT_FILE.test(entry.name)) {
        continue;
      }
      const file = path.join(folder, entry.name);
      const stat = await fsp.stat(file).catch(() => null);
      if (!stat || stat.mtimeMs < since || stat.mtimeMs > until) {
        continue;
      }
      const dest = path.join(target, entry.name);
      const existing = await fsp.stat(dest).catch(() => null);
      if (
        existing &&
        existing.size === stat.size &&
        Math.abs(existing.mtimeMs - stat.mtimeMs) < 1
      ) {
        continue;
      }
      await fsp.mkdir(target, { recursive: true });
      const temporary = path.join(target, `.${entry.name}.${process.pid}.tmp`);
      try {
        await fsp.copyFile(file, temporary);
        await fsp.utimes(temporary, stat.atime, stat.mtime);
        await fsp.rename(temporary, dest);
      } catch (error) {
        await fsp.rm(temporary, { force: true });
        throw error;
      }
      copied.files += 1;
      copied.bytes += stat.size;
    }
  }
  return copied;
}
