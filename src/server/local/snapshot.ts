/**
 * Workspace snapshots: before a run, the notebook's directory is captured into the run, so files
 * edited or deleted while the run goes on never leak into it.
 *
 * Design (content-addressed, copy-on-write where the file system allows it):
 * - Every file's content is stored once in `.chard/objects/<sha256>`, shared by all runs. Objects
 *   are read-only (mode 0444) and carry a fixed mtime (2000-01-01T00:00:00Z), so any write into
 *   one is detectable with a single stat.
 * - A cache (`.chard/snapshot-cache.json`) maps each path to its (size, mtime, inode) and hash, so
 *   an unchanged file is never read again: the second snapshot of a large workspace is a walk of
 *   stats plus one link per file.
 * - The run's `workspace/` is materialized from the objects:
 *   - reflink (FICLONE) when the file system supports it (btrfs, XFS, ...): a private
 *     copy-on-write file per run, writable, nothing can reach the shared object;
 *   - otherwise files below `linkThreshold` (1 MiB) are plain copies (writable, cheap), and larger
 *     files are hard links to the read-only object. A step can read them, create new files,
 *     replace or delete them (rename/unlink only touch the run's directory entry), but cannot
 *     write into them in place: the open fails with a permission error, and the runner adds a
 *     hint naming the file. A process running as root ignores file modes; such a write would
 *     change the shared object, so after every run the runner checks the objects the run linked
 *     (size and the fixed mtime) and evicts any that changed: later snapshots re-read the file
 *     from the notebook's directory. `mode: 'copy'` copies every file.
 * - Symbolic links are recreated as they are; other special files are left out.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

import { isRecord } from '../../core/index.js';
import { CHARD_DIR } from '../common/records.js';
import { errorReason, writeJsonAtomic } from '../common/files.js';
export { parseSize } from '../../core/settings.js';

/** Excluded from every snapshot (plus anything given with --exclude or in the notebook). */
export const DEFAULT_EXCLUDES: readonly string[] = [
  '.git',
  'node_modules',
  CHARD_DIR,
  '.ipynb_checkpoints',
  '__pycache__'
];

export const DEFAULT_MAX_SNAPSHOT_BYTES = 2 * 1024 ** 3;

/** Objects carry this mtime (seconds since the epoch); anything else means someone wrote in. */
const OBJECT_MTIME = 946684800;

export namespace Snapshot {
  export interface IOptions {
    /** The directory to capture (the notebook's directory). */
    source: string;
    /** The run's workspace directory (created; must not exist). */
    target: string;
    /** The `.chard` directory holding `objects/` and the cache. */
    store: string;
    /** Extra exclusion patterns: a name (`data`, `*.tmp`) or a relative path (`raw/big.bin`). */
    exclude?: readonly string[];
    /** Refuse to snapshot more than this many bytes. */
    maxBytes?: number;
    /** `auto`: reflink, else copy small files and hard-link large ones; `copy`: copy all. */
    mode?: 'auto' | 'copy';
    /** Files of at least this size are hard-linked when reflinks are unavailable. */
    linkThreshold?: number;
  }

  export interface IResult {
    files: number;
    bytes: number;
    /** Bytes read and hashed because the cache did not know the file. */
    hashedBytes: number;
    linked: number;
    copied: number;
    reflinked: number;
    /** Objects hard-linked into the workspace (to verify after the run). */
    linkedObjects: string[];
    /** Wall time in milliseconds. */
    ms: number;
  }
}

/** A snapshot that cannot be taken; one-line message. */
export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

interface IFileEntry {
  rel: string;
  abs: string;
  size: number;
  mtimeNs: string;
  ino: string;
  mode: number;
  mtime: Date;
}

interface ICacheEntry {
  size: number;
  mtimeNs: string;
  ino: string;
  sha: string;
}

/** Take a snapshot of `source` into `target`. */
export async function snapshotWorkspace(options: Snapshot.IOptions): Promise<Snapshot.IResult> {
  const started = performance.now();
  const source = path.resolve(options.source);
  const target = path.resolve(options.target);
  const objects = path.join(options.store, 'objects');
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES;
  const linkThreshold = options.linkThreshold ?? 1024 * 1024;
  const matchers = [...DEFAULT_EXCLUDES, ...(options.exclude ?? [])].map(Private.patternMatcher);

  const files: IFileEntry[] = [];
  const symlinks: { rel: string; link: string }[] = [];
  const dirs: string[] = [];
  await Private.walk(source, '', matchers, files, symlinks, dirs, target);
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  if (bytes > maxBytes) {
    const biggest = [...files].sort((a, b) => b.size - a.size).slice(0, 3);
    throw new SnapshotError(
      `the workspace ${source} holds ${Private.human(bytes)}, above the snapshot limit of ` +
        `${Private.human(maxBytes)} (largest: ${biggest.map(f => `${f.rel} ${Private.human(f.size)}`).join(', ')}); ` +
        `leave files out with --exclude PATTERN or raise --max-snapshot-size`
    );
  }

  await fsp.mkdir(objects, { recursive: true });
  await fsp.mkdir(target, { recursive: false });
  for (const dir of dirs) {
    await fsp.mkdir(path.join(target, dir), { recursive: true });
  }
  const cacheFile = path.join(options.store, 'snapshot-cache.json');
  const cache = await Private.readCache(cacheFile);
  const newCache: Record<string, ICacheEntry> = {};
  const result: Snapshot.IResult = {
    files: files.length,
    bytes,
    hashedBytes: 0,
    linked: 0,
    copied: 0,
    reflinked: 0,
    linkedObjects: [],
    ms: 0
  };
  let reflink = options.mode !== 'copy';
  let reflinkProbed = false;

  const one = async (file: IFileEntry): Promise<void> => {
    const known = cache[file.rel];
    let sha: string | null = null;
    if (
      known &&
      known.size === file.size &&
      known.mtimeNs === file.mtimeNs &&
      known.ino === file.ino &&
      (await Private.objectIntact(path.join(objects, known.sha), file.size))
    ) {
      sha = known.sha;
    }
    if (sha === null) {
      sha = await Private.storeObject(file.abs, objects);
      result.hashedBytes += file.size;
    }
    newCache[file.rel] = { size: file.size, mtimeNs: file.mtimeNs, ino: file.ino, sha };
    const object = path.join(objects, sha);
    const dest = path.join(target, file.rel);
    if (reflink && !reflinkProbed) {
      reflinkProbed = true;
      try {
        await fsp.copyFile(object, dest, fs.constants.COPYFILE_FICLONE_FORCE);
        await Private.finishCopy(dest, file);
        result.reflinked += 1;
        return;
      } catch {
        reflink = false;
      }
    }
    if (reflink) {
      await fsp.copyFile(object, dest, fs.constants.COPYFILE_FICLONE_FORCE);
      await Private.finishCopy(dest, file);
      result.reflinked += 1;
    } else if (options.mode === 'copy' || file.size < linkThreshold) {
      await fsp.copyFile(object, dest);
      await Private.finishCopy(dest, file);
      result.copied += 1;
    } else {
      try {
        await fsp.link(object, dest);
        result.linked += 1;
        result.linkedObjects.push(sha);
      } catch {
        await fsp.copyFile(object, dest);
        await Private.finishCopy(dest, file);
        result.copied += 1;
      }
    }
  };

  // The first file alone (it probes reflink support), then a small pool.
  const queue = [...files];
  const first = queue.shift();
  if (first) {
    await one(first);
  }
  await Promise.all(
    Array.from({ length: Math.min(8, queue.length) }, async () => {
      for (let file = queue.shift(); file; file = queue.shift()) {
        await one(file);
      }
    })
  );
  for (const link of symlinks) {
    await fsp.symlink(link.link, path.join(target, link.rel));
  }
  // The cache belongs to this directory's `.chard`: the new cache is exactly this walk.
  await writeJsonAtomic(cacheFile, { version: 1, entries: newCache });
  result.linkedObjects = [...new Set(result.linkedObjects)].sort();
  result.ms = performance.now() - started;
  return result;
}

/**
 * Check objects a run hard-linked; evict (unlink from the store) every object that was written
 * into. Returns the evicted hashes.
 */
export async function verifyObjects(store: string, shas: readonly string[]): Promise<string[]> {
  const evicted: string[] = [];
  for (const sha of shas) {
    if (!/^[0-9a-f]{64}$/.test(sha)) {
      continue;
    }
    const object = path.join(store, 'objects', sha);
    let stat: fs.Stats;
    try {
      stat = await fsp.stat(object);
    } catch {
      continue;
    }
    if (Math.floor(stat.mtimeMs / 1000) !== OBJECT_MTIME || (stat.mode & 0o222) !== 0) {
      await fsp.rm(object, { force: true });
      evicted.push(sha);
    }
  }
  return evicted;
}

/** Is `file` in a workspace a hard link to a shared read-only object? */
export function isSharedObjectLink(file: string): boolean {
  try {
    const stat = fs.statSync(file);
    return (
      stat.nlink > 1 &&
      (stat.mode & 0o222) === 0 &&
      Math.floor(stat.mtimeMs / 1000) === OBJECT_MTIME
    );
  } catch {
    return false;
  }
}

namespace Private {
  export function patternMatcher(pattern: string): (rel: string, name: string) => boolean {
    const clean = pattern.replace(/^\.\//, '').replace(/\/+$/, '');
    const regex = new RegExp(
      '^' +
        clean
          .split('')
          .map(c =>
            c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
          )
          .join('') +
        '$'
    );
    return clean.includes('/') ? rel => regex.test(rel) : (_rel, name) => regex.test(name);
  }

  export async function walk(
    root: string,
    rel: string,
    matchers: ((rel: string, name: string) => boolean)[],
    files: IFileEntry[],
    symlinks: { rel: string; link: string }[],
    dirs: string[],
    target: string
  ): Promise<void> {
    const dir = path.join(root, rel);
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (error) {
      throw new SnapshotError(`cannot read ${dir} for the snapshot (${errorReason(error)})`);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name;
      const abs = path.join(root, childRel);
      if (abs === target || matchers.some(m => m(childRel, entry.name))) {
        continue;
      }
      if (entry.isSymbolicLink()) {
        symlinks.push({ rel: childRel, link: await fsp.readlink(abs) });
      } else if (entry.isDirectory()) {
        dirs.push(childRel);
        await walk(root, childRel, matchers, files, symlinks, dirs, target);
      } else if (entry.isFile()) {
        let stat: fs.BigIntStats;
        try {
          stat = await fsp.lstat(abs, { bigint: true });
        } catch {
          continue; // deleted while we walked
        }
        files.push({
          rel: childRel,
          abs,
          size: Number(stat.size),
          mtimeNs: stat.mtimeNs.toString(),
          ino: `${stat.dev}:${stat.ino}`,
          mode: Number(stat.mode) & 0o777,
          mtime: new Date(Number(stat.mtimeMs))
        });
      }
    }
  }

  export async function readCache(file: string): Promise<Record<string, ICacheEntry>> {
    try {
      const data: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
      if (isRecord(data) && data.version === 1 && isRecord(data.entries)) {
        const out: Record<string, ICacheEntry> = {};
        for (const [key, value] of Object.entries(data.entries)) {
          if (
            isRecord(value) &&
            typeof value.size === 'number' &&
            typeof value.mtimeNs === 'string' &&
            typeof value.ino === 'string' &&
            typeof value.sha === 'string' &&
            /^[0-9a-f]{64}$/.test(value.sha)
          ) {
            out[key] = { size: value.size, mtimeNs: value.mtimeNs, ino: value.ino, sha: value.sha };
          }
        }
        return out;
      }
    } catch {
      // no cache yet, or unreadable: start afresh
    }
    return {};
  }

  export async function objectIntact(object: string, size: number): Promise<boolean> {
    try {
      const stat = await fsp.stat(object);
      return stat.size === size && Math.floor(stat.mtimeMs / 1000) === OBJECT_MTIME;
    } catch {
      return false;
    }
  }

  /** Copy a file into the store while hashing what was copied; returns the hash. */
  export async function storeObject(file: string, objects: string): Promise<string> {
    const temp = path.join(objects, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    try {
      await pipeline(
        fs.createReadStream(file),
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            callback(null, chunk);
          }
        }),
        fs.createWriteStream(temp, { mode: 0o444 })
      );
    } catch (error) {
      await fsp.rm(temp, { force: true });
      throw new SnapshotError(`cannot snapshot ${file} (${errorReason(error)})`);
    }
    const sha = hash.digest('hex');
    await fsp.chmod(temp, 0o444);
    await fsp.utimes(temp, OBJECT_MTIME, OBJECT_MTIME);
    await fsp.rename(temp, path.join(objects, sha));
    return sha;
  }

  export async function finishCopy(dest: string, file: IFileEntry): Promise<void> {
    await fsp.chmod(dest, file.mode | 0o200);
    await fsp.utimes(dest, file.mtime, file.mtime);
  }

  export function human(bytes: number): string {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
  }
}
