/** The run service the `chard` command talks to (one per process), and its errors as exits. */
import { createRunService, ServiceError } from '../server/index.js';
import type { RunService } from '../server/index.js';
import { CommandError, formatDiagnostic } from './notebookfile.js';

let service: RunService | null = null;

/** Write one line to stderr (progress). */
export function progress(message: string): void {
  process.stderr.write(`chard: ${message}\n`);
}

export function runService(): RunService {
  service ??= createRunService({ onRetry: progress });
  return service;
}

/**
 * A service error as a command error: the notebook's problems on stderr first, then one line;
 * exit code 2 for a wrong request, 1 otherwise.
 */
export function commandError(error: unknown, notebook?: string): unknown {
  if (!(error instanceof ServiceError)) {
    return error;
  }
  for (const d of error.diagnostics) {
    process.stderr.write(`${formatDiagnostic(notebook ?? '', d)}\n`);
  }
  return new CommandError(error.message, error.usage ? 2 : 1);
}

/** Run `fn`, turning service errors into command errors. */
export async function viaService<T>(fn: () => Promise<T>, notebook?: string): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw commandError(error, notebook);
  }
}
