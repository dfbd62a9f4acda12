/** Splitting a job's cells into chunks that threads take from a shared counter. */

/** What the threads of one job share. */
export interface IChunkedJob {
  sources: readonly string[];
  /** `starts[k]` is the index of chunk k's first source; chunk k ends where k + 1 starts. */
  starts: readonly number[];
  /** One Int32: the next chunk to take. */
  counter: SharedArrayBuffer;
}

/**
 * Chunk boundaries for `sources`: consecutive runs of about `chunkChars` characters (at least
 * one source each), so that threads share the work evenly whatever the cells' sizes.
 */
export function chunkStarts(sources: readonly string[], chunkChars: number): number[] {
  const starts: number[] = [];
  let size = chunkChars;
  sources.forEach((source, i) => {
    if (size >= chunkChars) {
      starts.push(i);
      size = 0;
    }
    size += source.length + 1;
  });
  return starts;
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
    const end = chunk + 1 < job.starts.length ? job.starts[chunk + 1] : job.sources.length;
    work(chunk, job.sources.slice(job.starts[chunk], end));
  }
}
