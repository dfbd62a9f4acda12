/** Command errors and how a notebook's problems are printed. */
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
