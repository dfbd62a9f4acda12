/**
 * Notebook paths from the browser are paths relative to the Jupyter server's root directory,
 * as Jupyter's contents API names them. A path that leaves the root (`..`, an absolute path, a
 * symbolic link pointing outside) is refused: the backend must never read what Jupyter would not
 * serve.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { HttpError } from './router.js';

/** The real (symlink-free) absolute path of `apiPath` inside `rootDir`, or an HttpError. */
export async function resolveInsideRoot(rootDir: string, apiPath: string): Promise<string> {
  if (apiPath === '' || apiPath.includes('\0')) {
    throw new HttpError(400, 'bad-request', 'the notebook path is empty or not a valid path');
  }
  if (path.isAbsolute(apiPath) || /^[A-Za-z]:[\\/]/.test(apiPath) || apiPath.startsWith('\\')) {
    throw new HttpError(
      403,
      'outside-root',
      `${apiPath}: absolute paths are refused; give the path relative to the Jupyter root`
    );
  }
  if (apiPath.split(/[\\/]/).includes('..')) {
    throw new HttpError(
      403,
      'outside-root',
      `${apiPath}: paths with ".." are refused; only files inside the Jupyter root can be read`
    );
  }
  const root = await realpath(rootDir);
  let real: string;
  try {
    real = await realpath(path.join(root, apiPath));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new HttpError(404, 'no-such-file', `${apiPath}: no such file in the Jupyter root`);
    }
    throw new HttpError(403, 'forbidden', `${apiPath}: cannot be read (${String(code)})`);
  }
  if (real !== root && !real.startsWith(root + path.sep)) {
    throw new HttpError(
      403,
      'outside-root',
      `${apiPath}: resolves outside the Jupyter root (a symbolic link?); refused`
    );
  }
  return real;
}
