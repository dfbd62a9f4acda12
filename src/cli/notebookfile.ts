/** Reading a notebook file for a command, with one-line errors. */
import { readFile } from 'node:fs/promises';
import { parseNotebook, NotebookError } from '../core/notebook.js';
import type { INotebook } from '../core/notebook.js';
import type { IDiagnostic } from '../core/plan.js';

/** A problem that ends a command with a one-line message and an exit code. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

/** Read and parse a notebook; every failure is a CommandError naming the file. */
export async function readNotebookFile(path: string): Promise<INotebook> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : String(code ?? error);
    throw new CommandError(`${path}: cannot read the notebook (${reason})`);
  }
  try {
    return parseNotebook(text, path);
  } catch (error) {
    if (error instanceof NotebookError) {
      throw new CommandError(error.message);
    }
    throw error;
  }
}

/** `FILE: cell N, line L: error: message`, cells numbered from 1 as JupyterLab shows them. */
export function formatDiagnostic(file: string, d: IDiagnostic): string {
  const where = [
    d.cell !== null ? `cell ${d.cell + 1}` : null,
    d.line !== null ? `line ${d.line}` : null
  ]
    .filter(Boolean)
    .join(', ');
  return `${file}: ${where ? `${where}: ` : ''}${d.severity}: ${d.message}`;
}
