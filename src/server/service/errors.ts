/** Errors the run service reports: one line for the user, and whether the request was wrong. */
import type { IDiagnostic } from '../../core/plan.js';

export class ServiceError extends Error {
  constructor(
    message: string,
    /** The request itself is wrong (a bad option or value): exit code 2, HTTP 400. */
    readonly usage = false,
    /** The notebook's problems, when they are why nothing ran. */
    readonly diagnostics: readonly IDiagnostic[] = [],
    /** No such run (HTTP 404). */
    readonly notFound = false
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}
