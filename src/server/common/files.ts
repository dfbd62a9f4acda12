/**
 * Atomic file writes: the server's one helper for them (run records, indexes, compiled
 * manifests, outputs copied back next to a notebook).
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Write a file atomically; the project's one helper for it (run records, compiled manifests).
 *
 * The data goes to a temporary file next to `file` (`.NAME.PID.RANDOM.tmp`, mode 0644), which is
 * fsynced and renamed over `file`; then the directory is fsynced so the rename itself is durable.
 * Readers see the old content or the new, never a mix, even after a crash or a power loss. The
 * directory must exist. On failure the temporary file is removed and the error is rethrown.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  return Private.replaceAtomically(file, async temp => {
    const handle = await fsp.open(temp, 'w', 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/** Copy `source` to `file` atomically, as `writeFileAtomic` writes (without holding it in memory). */
export function copyFileAtomic(source: string, file: string): Promise<void> {
  return Private.replaceAtomically(file, async temp => {
    await fsp.copyFile(source, temp);
    const handle = await fsp.open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  });
}

/** `writeFileAtomic` of a value as indented JSON. */
export function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Keeps one JSON file up to date with the latest state without blocking the caller: writes
 * are serialized, and updates that arrive while a write is in flight are coalesced into one.
 */
export class JsonFileWriter<T> {
  constructor(private readonly _file: string) {}

  /** Schedule a write of `value` (a snapshot is taken now). */
  update(value: T): void {
    this._pending = JSON.parse(JSON.stringify(value)) as T;
    if (!this._writing) {
      this._writing = this._drain();
    }
  }

  /** Resolves when everything scheduled so far is on disk. */
  async flush(): Promise<void> {
    while (this._writing) {
      await this._writing;
    }
    if (this._error) {
      const error = this._error;
      this._error = null;
      throw error;
    }
  }

  private async _drain(): Promise<void> {
    try {
      while (this._pending !== null) {
        const value = this._pending;
        this._pending = null;
        try {
          await writeJsonAtomic(this._file, value);
        } catch (error) {
          this._error = error instanceof Error ? error : new Error(String(error));
        }
      }
    } finally {
      this._writing = null;
    }
  }

  private _pending: T | null = null;
  private _writing: Promise<void> | null = null;
  private _error: Error | null = null;
}

/** A short reason for a failed file operation: the errno code (`ENOENT`), else the message. */
export function errorReason(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return error instanceof Error ? error.message : String(error);
}

namespace Private {
  /**
   * Have `fill` write the new content (fsynced) to a temporary file next to `file`, rename it
   * over `file` and fsync the directory; on failure remove the temporary file and rethrow.
   */
  export async function replaceAtomically(
    file: string,
    fill: (temp: string) => Promise<void>
  ): Promise<void> {
    const temp = tempName(file);
    try {
      await fill(temp);
      await fsp.rename(temp, file);
    } catch (error) {
      await fsp.rm(temp, { force: true });
      throw error;
    }
    await syncDir(path.dirname(file));
  }

  /** `.NAME.PID.RANDOM.tmp` next to `file`. */
  export function tempName(file: string): string {
    return path.join(
      path.dirname(file),
      `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    );
  }

  export async function syncDir(dir: string): Promise<void> {
    try {
      const handle = await fsp.open(dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch {
      // some file systems refuse fsync on a directory; the rename is still atomic
    }
  }
}
