/**
 * Web Workers on the analysis script embedded at build time (src/lab/generated/worker.ts, built
 * by scripts/build-worker.mjs from src/lab/worker.ts), started from a Blob URL. The script is
 * self-contained: a worker chunk of the prebuilt (federated) extension would need JupyterLab's
 * shared modules, which a worker does not have (jupyterlab/jupyterlab#10197).
 */
import type { IChunkReply, WorkerFactory } from './analysisworkers.js';
import { WORKER_SCRIPT } from './generated/worker.js';

let scriptUrl: string | null = null;

/** A factory of analysis workers for `AnalysisWorkers`. */
export function blobWorkers(): WorkerFactory {
  return handlers => {
    scriptUrl ??= URL.createObjectURL(new Blob([WORKER_SCRIPT], { type: 'text/javascript' }));
    const worker = new Worker(scriptUrl, { name: 'chard-analysis' });
    worker.onmessage = (event: MessageEvent<IChunkReply>) => handlers.reply(event.data);
    worker.onerror = (event: ErrorEvent) => {
      // Handled here: the service gives the worker up and analyses its cells elsewhere.
      event.preventDefault();
      handlers.fail(event.message || 'the worker script failed');
    };
    worker.onmessageerror = () => handlers.fail('a reply could not be read');
    return worker;
  };
}
