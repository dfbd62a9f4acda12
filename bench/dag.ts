/**
 * The pipeline DAG's speed: dagre's layout and the SVG drawing (in jsdom: building the DOM, no
 * browser paint) of 50- and 200-step plans shaped like real pipelines (a load step, then
 * rows of parallel steps that each read two variables of the row before, and a report that
 * reads a variable of every last-row step), and the time from a step-state change to its
 * repainted node. Medians of several rounds. The end-to-end test prints the same figures
 * measured in Chromium (`chard:dag-render` on the page's performance timeline).
 */
import { loadavg } from 'node:os';
import { JSDOM } from 'jsdom';
import type { IEdge, IPlan, IStep } from '../src/core/plan.js';
import { layoutDag } from '../src/lab/daglayout.js';
import type { IDagNode } from '../src/lab/daglayout.js';
import { applyNodeState, renderDagSvg } from '../src/lab/dagsvg.js';
import type { StepState } from '../src/lab/tokens.js';

/** `steps` steps in rows of `width` parallel steps. */
export function makePlan(steps: number, width = 5): IPlan {
  const list: IStep[] = [];
  const edges: IEdge[] = [];
  const name = (i: number): string => `stage_${i}_${'x'.repeat(i % 7)}`;
  for (let i = 0; i < steps; i++) {
    const row = i === 0 ? 0 : Math.floor((i - 1) / width) + 1;
    let parents: number[] = [];
    if (i === steps - 1 && i > 0) {
      const lastRow = row - 1;
      parents = list
        .map((_, k) => k)
        .filter(k => k > 0 && Math.floor((k - 1) / width) + 1 === lastRow);
    } else if (row === 1) {
      parents = [0];
    } else if (row > 1) {
      const base = (row - 2) * width + 1;
      const col = (i - 1) % width;
      parents = [base + col, base + ((col + 1) % width)].filter(k => k < i);
    }
    for (const p of parents) {
      edges.push({ from: name(p), to: name(i), names: [`v_${p}`, `w_${p}`] });
    }
    list.push({
      name: name(i),
      id: `stage-${i}`,
      cells: [i + 2],
      code: [{ cell: i + 2, source: 'pass' }],
      inputs: parents.map(p => `v_${p}`),
      outputs: [`v_${i}`, `w_${i}`],
      parameters: [],
      metrics: [],
      parents: [...new Set(parents)].map(name),
      inputSources: {},
      limits: {},
      labels: {},
      annotations: {},
      secrets: []
    });
  }
  return {
    version: 1,
    pipeline: {
      name: 'bench',
      id: 'bench',
      description: '',
      experiment: 'Default',
      volumes: [],
      autosnapshot: false,
      chard: {}
    },
    proposed: false,
    imports: [{ cell: 0, source: 'import numpy as np' }],
    functions: [],
    steps: list,
    edges,
    parameters: [],
    metrics: [],
    diagnostics: []
  };
}

/** CPU time of this process in ms (the machine is shared: wall time varies with its load). */
function cpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const f = (ms: number): string => `${ms.toFixed(1)} ms`;

export async function run(): Promise<void> {
  const { window } = new JSDOM('<!doctype html><html><body></body></html>');
  const doc = window.document;
  const options = {
    id: 'bench',
    state: (): StepState | undefined => undefined,
    describeNode: (node: IDagNode, state: StepState | undefined) => `${node.name}: ${state ?? ''}`,
    describeEdge: (e: { from: string; to: string; names: string[] }) =>
      `${e.from} → ${e.to}: ${e.names.join(', ')}`
  };
  for (const [steps, goal] of [
    [50, 100],
    [200, 300]
  ] as const) {
    const plan = makePlan(steps);
    const layouts: number[] = [];
    const draws: number[] = [];
    const walls: number[] = [];
    const repaints: number[] = [];
    for (let round = 0; round < 9; round++) {
      const w0 = performance.now();
      const t0 = cpu();
      const layout = layoutDag(plan);
      const t1 = cpu();
      const drawn = renderDagSvg(doc, layout, options);
      doc.body.replaceChildren(drawn.svg);
      const t2 = cpu();
      walls.push(performance.now() - w0);
      layouts.push(t1 - t0);
      draws.push(t2 - t1);
      // A run event: one step's state changes; its node is repainted (class and label).
      const node = layout.nodes[round % layout.nodes.length];
      const t3 = performance.now();
      applyNodeState(drawn.nodes.get(node.name)!, node, 'running', options);
      repaints.push(performance.now() - t3);
    }
    const total = median(layouts.map((l, i) => l + draws[i]));
    console.log(
      `${steps} steps (${plan.edges.length} edges): CPU time layout ${f(median(layouts))} + draw in jsdom ` +
        `${f(median(draws))} = ${f(total)} (goal ≤ ${goal} ms) ${total <= goal ? 'ok' : 'OVER'}; ` +
        `wall ${f(median(walls))} (load average ${loadavg()[0].toFixed(1)})`
    );
    console.log(
      `${steps} steps: state change → repainted node ${f(median(repaints))} (goal ≤ 50 ms; jsdom, no paint)`
    );
  }
}
