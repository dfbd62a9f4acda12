/**
 * The Node backend's entry: the run service (the one front door to runs for the `chard`
 * command, the HTTP API and the JupyterLab UI) and what its callers need besides.
 */
export { createRunService, RunService } from './service/service.js';
export { ServiceError } from './service/errors.js';
export type { IClusterAccess, ILogChunk } from './service/types.js';
export type { IClusterRun } from './kube/backend.js';
export { readNotebookFile } from './service/notebook.js';
export { writeFileAtomic } from './common/files.js';
export { stateDir } from './common/runindex.js';
export { workflowSchemaProblem } from './argo/schema.js';
