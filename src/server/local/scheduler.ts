/**
 * The DAG scheduler of the local runner, independent of processes: a node starts as soon as all
 * its parents have succeeded, up to `parallel` at a time. A node that fails or is cancelled makes
 * its descendants `skipped`; independent branches go on. After an abort no new node starts and
 * every node that never started ends `cancelled`.
 */
import type { StepStatus } from '../../core/index.js';

export interface ISchedulerNode {
  name: string;
  parents: readonly string[];
}

export type NodeOutcome = 'succeeded' | 'failed' | 'cancelled';

export namespace Scheduler {
  export interface IOptions {
    nodes: readonly ISchedulerNode[];
    /** Maximum number of nodes running at once (>= 1). */
    parallel: number;
    /** Nodes that already succeeded (reused from an earlier run): not run, count as succeeded. */
    done?: ReadonlySet<string>;
    /** Run one node; must not reject (a rejection counts as `failed`). */
    run: (name: string) => Promise<NodeOutcome>;
    /** A node will never run because `cause` (an ancestor) failed or was cancelled. */
    onSkipped?: (name: string, cause: string) => void;
    /** A node never started because the run was aborted. */
    onCancelled?: (name: string) => void;
    signal?: AbortSignal;
  }
}

/** Run the DAG; resolves with every node's final status. */
export function schedule(options: Scheduler.IOptions): Promise<Map<string, StepStatus>> {
  const { nodes, signal } = options;
  const parallel = Math.max(1, Math.floor(options.parallel));
  const status = new Map<string, StepStatus>();
  const children = new Map<string, string[]>(nodes.map(n => [n.name, []]));
  for (const node of nodes) {
    for (const parent of node.parents) {
      children.get(parent)?.push(node.name);
    }
    status.set(node.name, options.done?.has(node.name) ? 'succeeded' : 'pending');
  }
  let running = 0;

  return new Promise(resolve => {
    const skipDescendants = (from: string, cause: string): void => {
      const stack = [...(children.get(from) ?? [])];
      while (stack.length > 0) {
        const name = stack.pop() as string;
        if (status.get(name) === 'pending') {
          status.set(name, 'skipped');
          options.onSkipped?.(name, cause);
          stack.push(...(children.get(name) ?? []));
        }
      }
    };
    const ready = (node: ISchedulerNode): boolean =>
      status.get(node.name) === 'pending' &&
      node.parents.every(p => !status.has(p) || status.get(p) === 'succeeded');

    const pump = (): void => {
      if (signal?.aborted) {
        for (const node of nodes) {
          if (status.get(node.name) === 'pending') {
            status.set(node.name, 'cancelled');
            options.onCancelled?.(node.name);
          }
        }
      } else {
        for (const node of nodes) {
          if (running >= parallel) {
            break;
          }
          if (ready(node)) {
            start(node.name);
          }
        }
      }
      if (running === 0) {
        // Nothing runs and nothing can start: whatever is still pending is unreachable.
        for (const node of nodes) {
          if (status.get(node.name) === 'pending') {
            status.set(node.name, 'skipped');
            options.onSkipped?.(node.name, '');
          }
        }
        resolve(status);
      }
    };

    const start = (name: string): void => {
      running += 1;
      status.set(name, 'running');
      options.run(name).then(
        outcome => finish(name, outcome),
        () => finish(name, 'failed')
      );
    };

    const finish = (name: string, outcome: NodeOutcome): void => {
      running -= 1;
      status.set(name, outcome);
      if (outcome !== 'succeeded') {
        skipDescendants(name, name);
      }
      pump();
    };

    signal?.addEventListener('abort', () => pump(), { once: true });
    pump();
  });
}
