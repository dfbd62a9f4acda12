/** Splitting a job's cells into chunks that threads take from a shared counter. */
import { chunkEnd } from '../../core/analyze.js';

/** What the threads of one job share. */
export interface IChunkedJob {
  sources: readonly string[];
  /** `starts[k]` is the index of chunk k's first source; chunk k ends where k + 1 starts. */
  starts: readonly number[];
  /** One Int32: the next chunk to take. */
  counter: SharedArrayBuffer;
}

/** Take chunks from the shared counter until none are left, calling `work` on each. */
export function takeChunks(
  job: IChunkedJob,
  work: (chunk: number, sources: readonly string[]) => void
): void {
  const counter = new Int32Array(job.counter);
  for (;;) {
    const chunk = Atomics.add(counter, 0, 1);
    if (chunk >= job.starts.length) {
      return;
    }
    work(
      chunk,
      job.sources.slice(job.starts[chunk], chunkEnd(job.starts, chunk, job.sources.length))
    );
  }
}
