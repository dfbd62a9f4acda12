import { Signal } from '@lumino/signaling';
import type { IPlan } from '../../src/core/plan.js';
import { analyzeCell } from '../../src/core/python/scopes.js';
import type { ICellAnalysis } from '../../src/core/python/scopes.js';
import type { IAnalysisProgress, IAnalyzeCellsOptions } from '../../src/lab/analysisworkers.js';
import { NotebookPlan } from '../../src/lab/notebookplan.js';
import { FakeCell } from './support.js';

/** A notebook model: cells, metadata and the `contentChanged` signal. */
class FakeModel implements NotebookPlan.IModel {
  constructor(public cells: FakeCell[]) {}
  readonly metadata = {};
  readonly nbformat = 4;
  readonly nbformatMinor = 5;
  readonly isDisposed = false;
  readonly contentChanged = new Signal<this, void>(this);
}

/** A service whose batches the test answers: each one reports progress as a large batch would. */
class ManualService implements NotebookPlan.IService {
  readonly batches: {
    sources: readonly string[];
    signal: AbortSignal | undefined;
    answer: () => void;
  }[] = [];

  analyzeCells(
    sources: readonly string[],
    options: IAnalyzeCellsOptions = {}
  ): Promise<ICellAnalysis[]> {
    return new Promise((resolve, reject) => {
      const { signal, onProgress } = options;
      signal?.addEventListener('abort', () => reject(signal.reason));
      onProgress?.({ cells: sources.length, done: 0, inWorkers: 0 });
      this.batches.push({
        sources,
        signal,
        answer: () => {
          onProgress?.({ cells: sources.length, done: sources.length, inWorkers: sources.length });
          resolve(sources.map(analyzeCell));
        }
      });
    });
  }
}

function churn(): FakeCell[] {
  return [
    new FakeCell('code', 'import pandas as pd', ['imports']),
    new FakeCell('code', 'df = pd.read_csv("churn.csv")', ['step:load_data']),
    new FakeCell('code', 'train = df.sample(frac=0.8)', ['step:split']),
    new FakeCell('code', 'model = train.mean()', ['step:train_model'])
  ];
}

/** Records a plan's signals. */
function watch(live: NotebookPlan): { plans: IPlan[]; progress: (IAnalysisProgress | null)[] } {
  const seen = { plans: [] as IPlan[], progress: [] as (IAnalysisProgress | null)[] };
  live.planChanged.connect((_, plan) => seen.plans.push(plan));
  live.analysingChanged.connect((_, p) => seen.progress.push(p));
  return seen;
}

const stepNames = (plan: IPlan | null): string[] => plan?.steps.map(s => s.name) ?? [];
const tick = (ms = 0): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

describe('NotebookPlan', () => {
  it('publishes the plan of an update; cells parsed on the calling thread show no progress', async () => {
    const live = new NotebookPlan({ model: new FakeModel(churn()), fileName: () => 'churn.ipynb' });
    const seen = watch(live);
    const plan = await live.update();
    expect(stepNames(plan)).toEqual(['load_data', 'split', 'train_model']);
    expect(live.plan).toBe(plan);
    expect(seen.plans).toEqual([plan]);
    expect(seen.progress).toEqual([]);
    expect(live.parsed).toEqual({ cells: 4, inWorkers: 0 });
    live.dispose();
  });

  it('reports the progress of a batch in the workers, which the new plan ends', async () => {
    const service = new ManualService();
    const live = new NotebookPlan({ model: new FakeModel(churn()), fileName: () => 'c', service });
    const seen = watch(live);
    const update = live.update();
    await tick();
    expect(live.analysing).toEqual({ cells: 4, done: 0, inWorkers: 0 });
    expect(live.plan).toBeNull();
    service.batches[0].answer();
    const plan = await update;
    expect(live.analysing).toBeNull();
    expect(seen.plans).toEqual([plan]);
    expect(seen.progress).toEqual([
      { cells: 4, done: 0, inWorkers: 0 },
      { cells: 4, done: 4, inWorkers: 4 }
    ]);
    expect(live.parsed).toEqual({ cells: 4, inWorkers: 4 });
    live.dispose();
  });

  it('drops the plan of an analysis a newer one superseded; the newer parses only what changed', async () => {
    const service = new ManualService();
    const model = new FakeModel(churn());
    const live = new NotebookPlan({ model, fileName: () => 'c', service });
    const seen = watch(live);
    const first = live.update();
    await tick();
    // The user tags the last cell as a new step and edits its code while the workers parse.
    model.cells[3] = new FakeCell('code', 'model = train.median()', ['step:fit']);
    const second = live.update();
    await tick();
    expect(service.batches).toHaveLength(1); // the second waits for the first
    service.batches[0].answer();
    expect(await first).toBeNull();
    await tick();
    expect(service.batches).toHaveLength(2);
    expect(service.batches[1].sources).toEqual(['model = train.median()']);
    service.batches[1].answer();
    const plan = await second;
    expect(stepNames(plan)).toEqual(['load_data', 'split', 'fit']);
    expect(seen.plans).toEqual([plan]);
    live.dispose();
  });

  it('lets only the last of several waiting updates analyse', async () => {
    const service = new ManualService();
    const model = new FakeModel(churn());
    const live = new NotebookPlan({ model, fileName: () => 'c', service });
    const first = live.update();
    await tick();
    const waiting = [live.update(), live.update(), live.update()];
    service.batches[0].answer();
    expect(await first).toBeNull();
    const results = await Promise.all(waiting);
    expect(results.slice(0, 2)).toEqual([null, null]);
    expect(stepNames(results[2])).toEqual(['load_data', 'split', 'train_model']);
    // Everything was cached by the first batch: no other batch was needed.
    expect(service.batches).toHaveLength(1);
    live.dispose();
  });

  it('cancels the analysis in flight when disposed', async () => {
    const service = new ManualService();
    const live = new NotebookPlan({ model: new FakeModel(churn()), fileName: () => 'c', service });
    const update = live.update();
    await tick();
    live.dispose();
    expect(service.batches[0].signal?.aborted).toBe(true);
    expect(await update).toBeNull();
    expect(live.plan).toBeNull();
  });

  it('refresh() returns the plan at once and cancels the analysis in flight', async () => {
    const service = new ManualService();
    const model = new FakeModel(churn());
    const live = new NotebookPlan({ model, fileName: () => 'c', service });
    const seen = watch(live);
    const update = live.update();
    await tick();
    const plan = live.refresh();
    expect(stepNames(plan)).toEqual(['load_data', 'split', 'train_model']);
    expect(live.plan).toBe(plan);
    expect(live.analysing).toBeNull();
    expect(service.batches[0].signal?.aborted).toBe(true);
    expect(await update).toBeNull();
    expect(seen.plans).toEqual([plan]);
    live.dispose();
  });

  it('re-analyses after the debounce delay when the notebook changes', async () => {
    const model = new FakeModel(churn());
    const live = new NotebookPlan({ model, fileName: () => 'c', debounce: 10 });
    const seen = watch(live);
    model.cells.push(new FakeCell('code', 'print(model)', ['step:report']));
    model.contentChanged.emit();
    model.contentChanged.emit();
    expect(live.plan).toBeNull();
    await tick(60);
    expect(seen.plans).toHaveLength(1);
    expect(stepNames(live.plan)).toEqual(['load_data', 'split', 'train_model', 'report']);
    live.dispose();
  });
});
