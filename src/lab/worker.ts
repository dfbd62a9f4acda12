/**
 * The script each Web Worker of `AnalysisWorkers` runs: it analyses the chunks of cells it is
 * sent, one message each, and answers each with the chunk's analyses. It imports nothing from
 * JupyterLab: scripts/build-worker.mjs bundles it with the Python analysis and @lezer/python
 * into one self-contained script (src/lab/generated/worker.ts).
 */
import { analyzeCell } from '../core/python/scopes.js';
import type { IChunkReply, IChunkRequest } from './analysisworkers.js';

/** The part of a dedicated worker's global scope this script uses. */
interface IWorkerScope {
  onmessage: ((event: { data: IChunkRequest }) => void) | null;
  postMessage(message: IChunkReply): void;
}

const scope = self as unknown as IWorkerScope;

scope.onmessage = ({ data }) => {
  let reply: IChunkReply;
  try {
    reply = { job: data.job, chunk: data.chunk, analyses: data.sources.map(analyzeCell) };
  } catch (e) {
    // The page analyses the chunk again, and reports the error if it recurs.
    reply = { job: data.job, chunk: data.chunk, error: e instanceof Error ? e.message : String(e) };
  }
  scope.postMessage(reply);
};
