/**
 * A worker thread of `CellAnalysisPool`: takes chunks of a batch of cells from the counter it
 * shares with the other threads and sends each chunk's analyses back as soon as it is done.
 */
import { parentPort } from 'node:worker_threads';
import { analyzeCell } from '../../core/python/scopes.js';
import { takeChunks } from './chunks.js';
import type { IAnalysisJob, IAnalysisReply } from './pool.js';

parentPort!.on('message', (job: IAnalysisJob) => {
  takeChunks(job, (chunk, sources) => {
    let reply: IAnalysisReply;
    try {
      reply = { id: job.id, chunk, analyses: sources.map(analyzeCell) };
    } catch (e) {
      // The calling thread analyses the chunk again, and reports the error if it recurs.
      reply = { id: job.id, chunk, error: e instanceof Error ? e.message : String(e) };
    }
    parentPort!.postMessage(reply);
  });
});
