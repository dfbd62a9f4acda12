/**
 * Cell analysis off the page's thread, for the Pipeline sidebar. Parsing is nearly all of a
 * notebook's first analysis (about a second for 2,000 cells): done on the page's thread, it
 * freezes JupyterLab. A large batch of cells is cut into chunks of about equal size in
 * characters, which Web Workers take in turn (each holds at most two, so a faster worker takes
 * more); a small batch, such as the one edited cell after a keystroke, is analysed right away on
 * the calling thread, without a worker's round trip.
 *
 * A worker that cannot start, fails or stops answering costs time, not results: its chunks go
 * to the other workers or, with none left, to the calling thread, one chunk per task so that
 * the page still responds. The worker script comes from a `WorkerFactory` (in JupyterLab,
 * `blobWorkers()`), so this module needs no DOM and its logic is tested in Node.
 */
import { chunkEnd, chunkStarts } from '../core/analyze.js';
import type { ICellAnalysisService } from '../core/analyze.js';
import { analyzeCell } from '../core/python/scopes.js';
import type { ICellAnalysis } from '../core/python/scopes.js';

/** What a worker is sent: one chunk of a batch. */
export interface IChunkRequest {
  job: number;
  chunk: number;
  sources: string[];
}

/** What a worker sends back for each chunk. */
export interface IChunkReply {
  job: number;
  chunk: number;
  analyses?: ICellAnalysis[];
  /** The chunk could not be analysed there; the calling thread does it again. */
  error?: string;
}

/** A started worker, as the service uses it. */
export interface IWorkerLike {
  postMessage(request: IChunkRequest): void;
  terminate(): void;
}

/** What a worker reports to the service. */
export interface IWorkerHandlers {
  /** A reply to one of the chunks it was sent. */
  reply(reply: IChunkReply): void;
  /** The worker is unusable (its script failed, a reply could not be read, ...). */
  fail(message: string): void;
}

/** Starts one worker; may throw when workers cannot be started. */
export type WorkerFactory = (handlers: IWorkerHandlers) => IWorkerLike;

/** How far a batch that went to the workers is. */
export interface IAnalysisProgress {
  /** Cells in the batch. */
  cells: number;
  /** Cells analysed so far. */
  done: number;
  /** Cells analysed so far by a worker (the others by the calling thread). */
  inWorkers: number;
}

export interface IAnalyzeCellsOptions {
  /** Cancels the batch: it rejects with the signal's reason and its unsent chunks are dropped. */
  signal?: AbortSignal;
  /**
   * Called when a large batch goes to the workers (nothing done yet) and after each chunk;
   * never for a small batch, which is analysed before `analyzeCells` returns.
   */
  onProgress?: (progress: IAnalysisProgress) => void;
}

export interface IAnalysisWorkersOptions {
  /** Starts the workers. */
  createWorker: WorkerFactory;
  /** Workers to use (default: the logical cores but one, at least 1, at most 3). */
  workers?: number;
  /** Batches of fewer characters are analysed on the calling thread (default 20,000). */
  minChars?: number;
  /** Milliseconds a worker may hold chunks without answering before it is given up (default 15,000). */
  timeout?: number;
}

/** One batch: its chunks and their results. */
interface IJob {
  id: number;
  sources: readonly string[];
  /** `starts[k]` is the index of chunk k's first source; chunk k ends where k + 1 starts. */
  starts: number[];
  results: (ICellAnalysis[] | undefined)[];
  /** Chunks without a result. */
  left: number;
  progress: IAnalysisProgress;
  onProgress: ((progress: IAnalysisProgress) => void) | undefined;
  resolve: (analyses: ICellAnalysis[]) => void;
  reject: (reason: unknown) => void;
  /** Removes the abort listener. */
  release: () => void;
}

interface ITask {
  job: IJob;
  chunk: number;
}

interface IRunningWorker {
  worker: IWorkerLike | null;
  /** Chunks sent and not answered, in the order sent. */
  tasks: ITask[];
  /** Gives the worker up when it holds chunks and has not answered for `timeout` ms. */
  timer: ReturnType<typeof setTimeout> | null;
}

/** Chunks a worker holds at once: one it works on, one waiting, so it never idles. */
const IN_FLIGHT = 2;
const CHUNKS_PER_WORKER = 8;
const MIN_CHUNK_CHARS = 10_000;
/** A chunk the calling thread takes over stays a short task (about 30 ms). */
const MAX_CHUNK_CHARS = 50_000;

/** The default number of workers: the logical cores but one, at least 1, at most 3. */
export function defaultWorkerCount(): number {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return Math.min(Math.max((cores ?? 2) - 1, 1), 3);
}

export class AnalysisWorkers implements ICellAnalysisService {
  constructor(options: IAnalysisWorkersOptions) {
    this._create = options.createWorker;
    this._count = Math.max(0, options.workers ?? defaultWorkerCount());
    this._minChars = options.minChars ?? 20_000;
    this._timeout = options.timeout ?? 15_000;
  }

  /** Workers this service uses for a large batch. */
  get workers(): number {
    return this._count;
  }

  /** Workers running now (they start with the first large batch). */
  get started(): number {
    return this._running.length;
  }

  /** Cells analysed so far by the workers and by the calling thread. */
  get counts(): { inWorkers: number; onCallingThread: number } {
    return { ...this._counts };
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  analyzeCells(
    sources: readonly string[],
    options: IAnalyzeCellsOptions = {}
  ): Promise<ICellAnalysis[]> {
    const { signal, onProgress } = options;
    if (signal?.aborted) {
      return Promise.reject(signal.reason);
    }
    const chars = sources.reduce((n, s) => n + s.length, 0);
    if (chars < this._minChars) {
      try {
        const analyses = sources.map(analyzeCell);
        this._counts.onCallingThread += sources.length;
        return Promise.resolve(analyses);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const workers = Math.max(this._count, 1);
    const chunkChars = Math.min(
      MAX_CHUNK_CHARS,
      Math.max(MIN_CHUNK_CHARS, Math.ceil(chars / (workers * CHUNKS_PER_WORKER)))
    );
    const starts = chunkStarts(sources, chunkChars);
    return new Promise<ICellAnalysis[]>((resolve, reject) => {
      const job: IJob = {
        id: this._nextId++,
        sources,
        starts,
        results: new Array<ICellAnalysis[] | undefined>(starts.length),
        left: starts.length,
        progress: { cells: sources.length, done: 0, inWorkers: 0 },
        onProgress,
        resolve,
        reject,
        release: () => undefined
      };
      if (signal) {
        const abort = (): void => this._abort(job, signal.reason);
        signal.addEventListener('abort', abort, { once: true });
        job.release = () => signal.removeEventListener('abort', abort);
      }
      this._jobs.add(job);
      starts.forEach((_, chunk) => this._queue.push({ job, chunk }));
      onProgress?.({ ...job.progress });
      this._startWorkers();
      this._dispatch();
    });
  }

  /**
   * Stop the workers. Batches in progress are finished on the calling thread, as are later
   * large ones.
   */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    for (const running of [...this._running]) {
      this._drop(running);
    }
    this._dispatch();
  }

  /** Start workers up to the count, unless they keep failing. */
  private _startWorkers(): void {
    while (
      !this._disposed &&
      this._lost < AnalysisWorkers.MAX_LOST &&
      this._running.length < this._count
    ) {
      const running: IRunningWorker = { worker: null, tasks: [], timer: null };
      try {
        running.worker = this._create({
          reply: reply => this._onReply(running, reply),
          fail: message => this._lose(running, message)
        });
      } catch (e) {
        this._lost++;
        console.warn('Chard: could not start an analysis worker; analysing in the page.', e);
        return;
      }
      this._running.push(running);
    }
  }

  /** Hand queued chunks to workers with room, or to the calling thread when none is left. */
  private _dispatch(): void {
    if (this._running.length === 0) {
      this._scheduleHere();
      return;
    }
    for (const running of [...this._running]) {
      while (running.tasks.length < IN_FLIGHT && this._queue.length > 0) {
        const task = this._queue.shift()!;
        const { job, chunk } = task;
        if (running.tasks.length === 0) {
          this._arm(running);
        }
        running.tasks.push(task);
        try {
          running.worker!.postMessage({
            job: job.id,
            chunk,
            sources: job.sources.slice(job.starts[chunk], this._end(job, chunk))
          });
        } catch (e) {
          this._lose(running, e instanceof Error ? e.message : String(e));
          break;
        }
      }
    }
  }

  private _onReply(running: IRunningWorker, reply: IChunkReply): void {
    const at = running.tasks.findIndex(t => t.job.id === reply.job && t.chunk === reply.chunk);
    if (at < 0) {
      return; // not sent to this worker, or it was given up already
    }
    const [task] = running.tasks.splice(at, 1);
    this._lost = 0;
    if (running.tasks.length > 0) {
      this._arm(running);
    } else {
      this._disarm(running);
    }
    if (this._jobs.has(task.job)) {
      const size = this._end(task.job, task.chunk) - task.job.starts[task.chunk];
      if (reply.analyses && reply.analyses.length === size) {
        this._complete(task, reply.analyses, true);
      } else {
        this._analyseHere(task);
      }
    }
    this._dispatch();
  }

  /** Give a worker up: its unanswered chunks go back to the front of the queue. */
  private _lose(running: IRunningWorker, message: string): void {
    if (!this._running.includes(running)) {
      return;
    }
    this._lost++;
    console.warn(`Chard: an analysis worker failed (${message}); its cells are analysed again.`);
    this._drop(running);
    this._dispatch();
  }

  private _drop(running: IRunningWorker): void {
    this._running.splice(this._running.indexOf(running), 1);
    this._disarm(running);
    try {
      running.worker?.terminate();
    } catch {
      // gone already
    }
    const live = running.tasks.filter(t => this._jobs.has(t.job));
    running.tasks = [];
    this._queue.unshift(...live);
  }

  private _arm(running: IRunningWorker): void {
    this._disarm(running);
    running.timer = setTimeout(() => {
      running.timer = null;
      this._lose(running, `no answer for ${this._timeout} ms`);
    }, this._timeout);
  }

  private _disarm(running: IRunningWorker): void {
    if (running.timer !== null) {
      clearTimeout(running.timer);
      running.timer = null;
    }
  }

  /** With no worker left: the calling thread takes the queue, one chunk per task. */
  private _scheduleHere(): void {
    if (this._hereTimer !== null || this._queue.length === 0) {
      return;
    }
    this._hereTimer = setTimeout(() => {
      this._hereTimer = null;
      const task = this._queue.shift();
      if (task) {
        this._analyseHere(task);
      }
      this._dispatch();
    }, 0);
  }

  private _analyseHere(task: ITask): void {
    const { job, chunk } = task;
    let analyses: ICellAnalysis[];
    try {
      analyses = job.sources.slice(job.starts[chunk], this._end(job, chunk)).map(analyzeCell);
    } catch (e) {
      this._finish(job);
      job.reject(e);
      return;
    }
    this._complete(task, analyses, false);
  }

  private _complete(task: ITask, analyses: ICellAnalysis[], inWorker: boolean): void {
    const { job, chunk } = task;
    if (job.results[chunk] !== undefined) {
      return;
    }
    job.results[chunk] = analyses;
    job.left--;
    job.progress.done += analyses.length;
    if (inWorker) {
      job.progress.inWorkers += analyses.length;
      this._counts.inWorkers += analyses.length;
    } else {
      this._counts.onCallingThread += analyses.length;
    }
    job.onProgress?.({ ...job.progress });
    if (job.left === 0) {
      this._finish(job);
      job.resolve(job.results.flatMap(r => r!));
    }
  }

  private _abort(job: IJob, reason: unknown): void {
    if (this._jobs.has(job)) {
      this._finish(job);
      job.reject(reason);
    }
  }

  /** Forget a job: its queued chunks are dropped, replies for it are ignored. */
  private _finish(job: IJob): void {
    this._jobs.delete(job);
    job.release();
    if (this._queue.some(t => t.job === job)) {
      this._queue = this._queue.filter(t => t.job !== job);
    }
  }

  private _end(job: IJob, chunk: number): number {
    return chunkEnd(job.starts, chunk, job.sources.length);
  }

  private readonly _create: WorkerFactory;
  private readonly _count: number;
  private readonly _minChars: number;
  private readonly _timeout: number;
  private readonly _running: IRunningWorker[] = [];
  private readonly _jobs = new Set<IJob>();
  private _queue: ITask[] = [];
  private _hereTimer: ReturnType<typeof setTimeout> | null = null;
  private _nextId = 1;
  /** Workers lost in a row (a worker that cannot start is not started for every batch). */
  private _lost = 0;
  private _disposed = false;
  private readonly _counts = { inWorkers: 0, onCallingThread: 0 };
}

export namespace AnalysisWorkers {
  /** Workers lost in a row after which the service analyses on the calling thread only. */
  export const MAX_LOST = 4;
}
