import { jest } from '@jest/globals';
import { analyzeCell } from '../../src/core/python/scopes.js';
import { chunkStarts } from '../../src/core/analyze.js';
import { AnalysisWorkers } from '../../src/lab/analysisworkers.js';
import type {
  IAnalysisProgress,
  IChunkRequest,
  IWorkerHandlers,
  IWorkerLike
} from '../../src/lab/analysisworkers.js';

/** How a fake worker answers each chunk. */
type Behaviour = 'answer' | 'fail' | 'silent' | 'error-reply';

/** A stand-in for a Web Worker: answers each chunk in a later task, in the order sent. */
class FakeWorker implements IWorkerLike {
  constructor(
    private readonly _handlers: IWorkerHandlers,
    readonly behaviour: Behaviour
  ) {}

  readonly requests: IChunkRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  terminated = false;

  postMessage(request: IChunkRequest): void {
    this.requests.push(request);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    setTimeout(() => {
      if (this.terminated) {
        return;
      }
      this.inFlight--;
      const { job, chunk } = request;
      switch (this.behaviour) {
        case 'answer':
          this._handlers.reply({ job, chunk, analyses: request.sources.map(analyzeCell) });
          break;
        case 'error-reply':
          this._handlers.reply({ job, chunk, error: 'RangeError: too much recursion' });
          break;
        case 'fail':
          this._handlers.fail('the worker script failed');
          break;
        case 'silent':
          break;
      }
    }, 1);
  }

  terminate(): void {
    this.terminated = true;
  }
}

/** A worker factory recording the workers it starts; `behaviours[i]` is worker i's. */
function fakeWorkers(behaviours: (i: number) => Behaviour | 'throw' = () => 'answer') {
  const started: FakeWorker[] = [];
  let calls = 0;
  const createWorker = (handlers: IWorkerHandlers): IWorkerLike => {
    const behaviour = behaviours(calls++);
    if (behaviour === 'throw') {
      throw new Error('Worker is not defined');
    }
    const worker = new FakeWorker(handlers, behaviour);
    started.push(worker);
    return worker;
  };
  return { started, createWorker, calls: () => calls };
}

/** Cells of 40 to about 1,600 characters: `count` of them, ~800 characters each on average. */
function cells(count: number, tag = 'v'): string[] {
  return Array.from({ length: count }, (_, i) => {
    const lines = [`${tag}_${i} = ${tag}_${Math.max(0, i - 1)} + 1`];
    for (let k = 0; k < (i * 7) % 40; k++) {
      lines.push(`frame_${i}["c${k}"] = frame_${i}["c${k}"].fillna(${k})`);
    }
    return lines.join('\n');
  });
}

function chars(sources: readonly string[]): number {
  return sources.reduce((n, s) => n + s.length, 0);
}

let warn: ReturnType<typeof jest.spyOn>;

beforeEach(() => {
  warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
});

afterEach(() => {
  warn.mockRestore();
});

describe('chunkStarts', () => {
  it('cuts consecutive runs of about the chunk size, every source in exactly one chunk', () => {
    const sources = cells(300);
    const size = 10_000;
    const starts = chunkStarts(sources, size);
    expect(starts[0]).toBe(0);
    const chunks = starts.map((s, k) => sources.slice(s, starts[k + 1] ?? sources.length));
    expect(chunks.flat()).toEqual(sources);
    chunks.forEach((chunk, k) => {
      const length = chunk.reduce((n, s) => n + s.length + 1, 0);
      // A chunk stops as soon as it reaches the size (the last one may be short).
      expect(length - (chunk[chunk.length - 1].length + 1)).toBeLessThan(size);
      if (k < chunks.length - 1) {
        expect(length).toBeGreaterThanOrEqual(size);
      }
    });
  });

  it('gives a source larger than the chunk size a chunk of its own', () => {
    expect(chunkStarts(['a', 'x'.repeat(100), 'b', 'c'], 50)).toEqual([0, 2]);
    expect(chunkStarts(['x'.repeat(100), 'b'], 50)).toEqual([0, 1]);
  });
});

describe('AnalysisWorkers', () => {
  it('analyses a small batch on the calling thread at once, without starting a worker', async () => {
    const fake = fakeWorkers();
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 2 });
    const sources = cells(10);
    expect(chars(sources)).toBeLessThan(20_000);
    const progress: IAnalysisProgress[] = [];
    const result = await service.analyzeCells(sources, { onProgress: p => progress.push(p) });
    expect(result).toEqual(sources.map(analyzeCell));
    expect(fake.calls()).toBe(0);
    expect(progress).toEqual([]);
    expect(service.counts).toEqual({ inWorkers: 0, onCallingThread: 10 });
  });

  it('spreads a large batch over the workers, two chunks each at most, and keeps the order', async () => {
    const fake = fakeWorkers();
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 3 });
    const sources = cells(400);
    const progress: IAnalysisProgress[] = [];
    const result = await service.analyzeCells(sources, { onProgress: p => progress.push(p) });
    expect(result).toEqual(sources.map(analyzeCell));
    expect(fake.started).toHaveLength(3);
    for (const worker of fake.started) {
      expect(worker.requests.length).toBeGreaterThan(0);
      expect(worker.maxInFlight).toBeLessThanOrEqual(2);
    }
    // Every cell went to exactly one worker, in chunks of at most 50,000 characters.
    const sent = fake.started.flatMap(w => w.requests);
    expect(sent.flatMap(r => r.sources).sort()).toEqual([...sources].sort());
    for (const r of sent) {
      expect(chars(r.sources)).toBeLessThanOrEqual(50_000 + 2_000);
    }
    expect(progress[0]).toEqual({ cells: 400, done: 0, inWorkers: 0 });
    expect(progress[progress.length - 1]).toEqual({ cells: 400, done: 400, inWorkers: 400 });
    expect(service.counts).toEqual({ inWorkers: 400, onCallingThread: 0 });
  });

  it('starts its workers with the first large batch and keeps them for the next ones', async () => {
    const fake = fakeWorkers();
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 2 });
    expect(service.started).toBe(0);
    await service.analyzeCells(cells(100, 'a'));
    await service.analyzeCells(cells(100, 'b'));
    expect(fake.calls()).toBe(2);
    expect(service.started).toBe(2);
    expect(fake.started.every(w => w.requests.length >= 2)).toBe(true);
  });

  it("hands a failed worker's chunks to the other workers", async () => {
    const fake = fakeWorkers(i => (i === 0 ? 'fail' : 'answer'));
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 2 });
    const sources = cells(200);
    const progress: IAnalysisProgress[] = [];
    const result = await service.analyzeCells(sources, { onProgress: p => progress.push(p) });
    expect(result).toEqual(sources.map(analyzeCell));
    expect(fake.started[0].terminated).toBe(true);
    expect(progress[progress.length - 1]).toEqual({ cells: 200, done: 200, inWorkers: 200 });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('the worker script failed'));
  });

  it('analyses on the calling thread when every worker fails, one chunk per task', async () => {
    const fake = fakeWorkers(() => 'fail');
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 2 });
    const sources = cells(300);
    const events: string[] = [];
    const ticker = setInterval(() => events.push('tick'), 0);
    let result;
    try {
      result = await service.analyzeCells(sources, {
        onProgress: p => events.push(`progress ${p.done}`)
      });
    } finally {
      clearInterval(ticker);
    }
    expect(result).toEqual(sources.map(analyzeCell));
    expect(service.counts).toEqual({ inWorkers: 0, onCallingThread: 300 });
    // Other tasks ran between the chunks analysed on the calling thread.
    const chunks = events.filter(e => e.startsWith('progress') && e !== 'progress 0');
    expect(chunks.length).toBeGreaterThan(2);
    const first = events.indexOf(chunks[0]);
    const last = events.indexOf(chunks[chunks.length - 1]);
    expect(events.slice(first, last).filter(e => e === 'tick').length).toBeGreaterThan(0);
  });

  it('analyses on the calling thread when workers cannot be created', async () => {
    const fake = fakeWorkers(() => 'throw');
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 3 });
    const sources = cells(100);
    const result = await service.analyzeCells(sources);
    expect(result).toEqual(sources.map(analyzeCell));
    expect(service.started).toBe(0);
    expect(service.counts.onCallingThread).toBe(100);
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('could not start an analysis worker'),
      expect.any(Error)
    );
  });

  it('gives up a worker that stops answering after the timeout', async () => {
    const fake = fakeWorkers(() => 'silent');
    const service = new AnalysisWorkers({
      createWorker: fake.createWorker,
      workers: 1,
      timeout: 50
    });
    const sources = cells(100);
    const t0 = Date.now();
    const result = await service.analyzeCells(sources);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(result).toEqual(sources.map(analyzeCell));
    expect(fake.started[0].terminated).toBe(true);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('no answer for 50 ms'));
  });

  it('analyses again on the calling thread a chunk a worker could not analyse', async () => {
    const fake = fakeWorkers(() => 'error-reply');
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 1 });
    const sources = cells(100);
    const result = await service.analyzeCells(sources);
    expect(result).toEqual(sources.map(analyzeCell));
    expect(service.counts).toEqual({ inWorkers: 0, onCallingThread: 100 });
    // The worker itself is kept: it answered.
    expect(service.started).toBe(1);
  });

  it('stops starting workers after MAX_LOST of them failed in a row', async () => {
    const fake = fakeWorkers(() => 'fail');
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 1 });
    for (let batch = 0; batch < AnalysisWorkers.MAX_LOST + 2; batch++) {
      const sources = cells(60, `b${batch}`);
      expect(await service.analyzeCells(sources)).toEqual(sources.map(analyzeCell));
    }
    expect(fake.calls()).toBe(AnalysisWorkers.MAX_LOST);
  });

  it('rejects an aborted batch and sends none of its remaining chunks', async () => {
    const fake = fakeWorkers();
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 1 });
    const controller = new AbortController();
    const batch = service.analyzeCells(cells(300), { signal: controller.signal });
    expect(fake.started[0].requests).toHaveLength(2);
    controller.abort();
    await expect(batch).rejects.toMatchObject({ name: 'AbortError' });
    // The two chunks the worker held are answered; no other chunk of the batch follows.
    await new Promise(resolve => setTimeout(resolve, 100));
    expect(fake.started[0].inFlight).toBe(0);
    expect(fake.started[0].requests).toHaveLength(2);
  });

  it('finishes a batch in progress on the calling thread when disposed', async () => {
    const fake = fakeWorkers(() => 'silent');
    const service = new AnalysisWorkers({ createWorker: fake.createWorker, workers: 2 });
    const sources = cells(200);
    const batch = service.analyzeCells(sources);
    service.dispose();
    expect(await batch).toEqual(sources.map(analyzeCell));
    expect(fake.started.every(w => w.terminated)).toBe(true);
    const later = cells(100, 'later');
    expect(await service.analyzeCells(later)).toEqual(later.map(analyzeCell));
    expect(fake.calls()).toBe(2);
  });
});
