/**
 * Cell analysis spread over worker threads. Parsing is nearly all of a notebook's first
 * analysis (a 40,000-line notebook is about 1.4 MB of Python for @lezer/python), so a large
 * batch of cells is cut into chunks that the calling thread and the workers take from a shared
 * counter: nobody waits for a slow or still-starting thread, and the calling thread only waits
 * for chunks another thread has already taken. A worker that fails or dies costs nothing but
 * time: the calling thread analyses whatever is missing itself.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { analyzeNotebookWith, chunkEnd, chunkStarts } from '../../core/analyze.js';
import type { IAnalyzeOptions, ICellAnalysisService } from '../../core/analyze.js';
import type { INotebook } from '../../core/notebook.js';
import type { IPlan } from '../../core/plan.js';
import { analyzeCell } from '../../core/python/scopes.js';
import type { ICellAnalysis } from '../../core/python/scopes.js';
import { takeChunks } from './chunks.js';
import type { IChunkedJob } from './chunks.js';

/** The message a worker gets: one batch of cells. */
export interface IAnalysisJob extends IChunkedJob {
  id: number;
}

/** What a worker sends back for each chunk it took. */
export interface IAnalysisReply {
  id: number;
  chunk: number;
  analyses?: ICellAnalysis[];
  /** The chunk could not be analysed there; the calling thread does it again. */
  error?: string;
}

export interface ICellAnalysisPoolOptions {
  /** Worker threads besides the calling one (default: the cores but one, at most 3). */
  threads?: number;
  /** Batches of fewer characters are analysed on the calling thread alone (default 100,000). */
  minChars?: number;
  /** The compiled worker script (default: `worker.js` beside this module). */
  workerUrl?: URL;
}

/** One batch being analysed: chunk results as they arrive. */
interface IRunningJob {
  results: (ICellAnalysis[] | undefined)[];
  /** Chunks taken by workers whose results have not arrived. */
  waiting: Set<number> | null;
  /** Called when `waiting` empties or a worker is lost. */
  wake: (() => void) | null;
}

const CHUNKS_PER_THREAD = 16;
const MIN_CHUNK_CHARS = 8192;

export class CellAnalysisPool implements ICellAnalysisService {
  private readonly _threads: number;
  private readonly _minChars: number;
  private readonly _workerUrl: URL;
  private readonly _workers: Worker[] = [];
  private readonly _jobs = new Map<number, IRunningJob>();
  private _nextId = 1;
  private _disposed = false;
  /** Workers lost in a row (a worker that cannot start is not started again and again). */
  private _lost = 0;
  private _last = { chunks: 0, byWorkers: 0 };

  constructor(options: ICellAnalysisPoolOptions = {}) {
    this._threads = Math.max(0, options.threads ?? Math.min(os.availableParallelism() - 1, 3));
    this._minChars = options.minChars ?? 100_000;
    this._workerUrl = options.workerUrl ?? new URL('./worker.js', import.meta.url);
  }

  /** Worker threads this pool uses for a large batch. */
  get threads(): number {
    return this._threads;
  }

  /** The last batch: its chunks, and how many of them worker threads analysed. */
  get lastBatch(): { chunks: number; byWorkers: number } {
    return { ...this._last };
  }

  /** Worker threads alive now (they start with the first large batch). */
  get started(): number {
    return this._workers.length;
  }

  async analyzeCells(sources: readonly string[]): Promise<ICellAnalysis[]> {
    const chars = sources.reduce((n, s) => n + s.length, 0);
    if (
      this._disposed ||
      this._threads === 0 ||
      this._lost >= CellAnalysisPool.MAX_LOST ||
      sources.length < 2 ||
      chars < this._minChars
    ) {
      return sources.map(analyzeCell);
    }
    this._startWorkers();
    const chunkChars = Math.max(
      MIN_CHUNK_CHARS,
      Math.ceil(chars / ((this._threads + 1) * CHUNKS_PER_THREAD))
    );
    const job: IAnalysisJob = {
      id: this._nextId++,
      sources,
      starts: chunkStarts(sources, chunkChars),
      counter: new SharedArrayBuffer(4)
    };
    const running: IRunningJob = {
      results: new Array<ICellAnalysis[] | undefined>(job.starts.length),
      waiting: null,
      wake: null
    };
    this._jobs.set(job.id, running);
    const mine = new Set<number>();
    try {
      for (const worker of this._workers) {
        worker.postMessage(job);
      }
      takeChunks(job, (chunk, part) => {
        running.results[chunk] = part.map(analyzeCell);
        mine.add(chunk);
      });
      // Every chunk is taken now; wait only for those a worker took and has not sent back.
      const waiting = new Set<number>();
      for (let chunk = 0; chunk < job.starts.length; chunk++) {
        if (!mine.has(chunk)) {
          waiting.add(chunk);
        }
      }
      if (waiting.size > 0 && this._workers.length > 0) {
        running.waiting = waiting;
        await new Promise<void>(resolve => {
          running.wake = resolve;
          this._workers.forEach(w => w.ref());
        });
      }
    } finally {
      this._jobs.delete(job.id);
      if (this._jobs.size === 0) {
        this._workers.forEach(w => w.unref());
      }
    }
    let byWorkers = 0;
    for (let chunk = 0; chunk < job.starts.length; chunk++) {
      byWorkers += !mine.has(chunk) && running.results[chunk] !== undefined ? 1 : 0;
    }
    this._last = { chunks: job.starts.length, byWorkers };
    const out: ICellAnalysis[] = [];
    job.starts.forEach((start, chunk) => {
      const end = chunkEnd(job.starts, chunk, sources.length);
      out.push(...(running.results[chunk] ?? sources.slice(start, end).map(analyzeCell)));
    });
    return out;
  }

  /** Stop the worker threads; later batches are analysed on the calling thread. */
  async dispose(): Promise<void> {
    this._disposed = true;
    const workers = this._workers.splice(0);
    await Promise.all(workers.map(w => w.terminate()));
  }

  private _startWorkers(): void {
    while (this._workers.length < this._threads) {
      const worker = new Worker(this._workerUrl);
      worker.unref();
      worker.on('message', (reply: IAnalysisReply) => this._onReply(reply));
      // A worker that fails to start or dies: forget it, and let waiting batches finish
      // the chunks it had taken on the calling thread.
      const lose = (): void => {
        const at = this._workers.indexOf(worker);
        if (at >= 0) {
          this._workers.splice(at, 1);
          this._lost++;
          void worker.terminate();
          for (const job of this._jobs.values()) {
            job.waiting = null;
            job.wake?.();
          }
        }
      };
      worker.on('error', lose);
      worker.on('exit', lose);
      this._workers.push(worker);
    }
  }

  private _onReply(reply: IAnalysisReply): void {
    this._lost = 0;
    const job = this._jobs.get(reply.id);
    if (!job) {
      return; // a batch that finished without this chunk (its worker was counted lost)
    }
    if (reply.analyses) {
      job.results[reply.chunk] = reply.analyses;
    }
    if (job.waiting) {
      job.waiting.delete(reply.chunk);
      if (job.waiting.size === 0) {
        job.waiting = null;
        job.wake?.();
      }
    }
  }
}

export namespace CellAnalysisPool {
  /** Workers lost in a row after which the pool analyses on the calling thread only. */
  export const MAX_LOST = 4;
}

let shared: CellAnalysisPool | null = null;

/** The process's pool (its threads start with the first large batch and never hold the process). */
export function sharedAnalysisPool(): CellAnalysisPool {
  return (shared ??= new CellAnalysisPool());
}

/** `analyzeNotebook` with the cells not yet cached analysed on the shared pool's threads. */
export function analyzeNotebookInParallel(
  nb: INotebook,
  options: IAnalyzeOptions = {}
): Promise<IPlan> {
  return analyzeNotebookWith(sharedAnalysisPool(), nb, options);
}
