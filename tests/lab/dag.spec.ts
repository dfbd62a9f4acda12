/**
 * @jest-environment jsdom
 *
 * The DAG: dagre's layout of a real plan, the SVG drawn from it, and step states (as the run
 * monitor will set them) recolouring only their nodes.
 */
import { analyzeNotebook } from '../../src/core/analyze.js';
import { DagModel } from '../../src/lab/dagmodel.js';
import { layoutDag, nodeLabel } from '../../src/lab/daglayout.js';
import type { IDagNode } from '../../src/lab/daglayout.js';
import { applyNodeState, renderDagSvg } from '../../src/lab/dagsvg.js';
import { snapshotNotebook } from '../../src/lab/snapshot.js';
import { StepStates } from '../../src/lab/stepstates.js';
import type { StepState } from '../../src/lab/tokens.js';
import { FakeCell, fakeNotebook } from './support.js';

// jsdom's window has no structuredClone (Node has); the fake cells copy their tags with it.
globalThis.structuredClone ??= <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function plan() {
  return analyzeNotebook(
    snapshotNotebook(
      fakeNotebook([
        new FakeCell('code', 'import pandas as pd', ['imports']),
        new FakeCell('code', 'df = pd.read_csv("a.csv")', ['step:load']),
        new FakeCell('code', 'a = df.head()', ['step:left']),
        new FakeCell('code', 'b = df.tail()', ['step:right']),
        new FakeCell('code', 'c = (a, b)', ['step:join']),
        new FakeCell('code', 'open("x").write("1")', ['step:side', 'prev:join'])
      ])
    )
  );
}

const options = (states: StepStates) => ({
  id: 'test',
  state: (step: string) => states.get(step),
  describeNode: (node: IDagNode, state: StepState | undefined) =>
    state ? `${node.name}: ${state}` : node.name,
  describeEdge: (e: { from: string; to: string; names: string[] }) =>
    `${e.from} → ${e.to}: ${e.names.join(', ')}`
});

describe('layoutDag', () => {
  it('puts each step below its parents, with the variables on the edges', () => {
    const layout = layoutDag(plan());
    const y = new Map(layout.nodes.map(n => [n.name, n.y]));
    expect(layout.nodes.map(n => n.name)).toEqual(['load', 'left', 'right', 'join', 'side']);
    expect(y.get('left')!).toBeGreaterThan(y.get('load')!);
    expect(y.get('left')).toBe(y.get('right'));
    expect(y.get('join')!).toBeGreaterThan(y.get('left')!);
    expect(y.get('side')!).toBeGreaterThan(y.get('join')!);
    expect(layout.edges.map(e => [e.from, e.to, e.names])).toEqual([
      ['load', 'left', ['df']],
      ['load', 'right', ['df']],
      ['left', 'join', ['a']],
      ['right', 'join', ['b']],
      ['join', 'side', []]
    ]);
    for (const e of layout.edges) {
      expect(e.points.length).toBeGreaterThanOrEqual(2);
    }
    // Nodes do not overlap.
    const [left, right] = [layout.nodes[1], layout.nodes[2]];
    expect(Math.abs(left.x - right.x)).toBeGreaterThanOrEqual((left.width + right.width) / 2);
  });

  it('shortens long names on the node', () => {
    expect(nodeLabel('a'.repeat(40))).toBe(`${'a'.repeat(23)}…`);
    expect(nodeLabel('short')).toBe('short');
  });
});

describe('the drawn DAG and step states', () => {
  it('draws a node per step in its colour, and an ordering-only edge dashed', () => {
    const states = new StepStates();
    const drawn = renderDagSvg(document, layoutDag(plan()), options(states));
    expect([...drawn.nodes.keys()]).toEqual(['load', 'left', 'right', 'join', 'side']);
    expect(drawn.nodes.get('right')!.getAttribute('class')).toBe(
      'jp-chard-DagNode jp-chard-StepColor-2'
    );
    const order = drawn.svg.querySelectorAll('.jp-chard-DagEdge.jp-mod-order');
    expect(order).toHaveLength(1);
    // The tooltip is made when first asked for (hover or focus), then kept in a <title>.
    expect(order[0].querySelector('title')).toBeNull();
    expect(drawn.describe(order[0])).toBe('join → side: ');
    expect(order[0].querySelector('title')!.textContent).toBe('join → side: ');
    const right = drawn.nodes.get('right')!;
    expect(drawn.describe(right)).toBe('right');
    states.set({ right: 'running' });
    applyNodeState(right, layoutDag(plan()).nodes[2], 'running', options(states));
    expect(right.querySelector('title')!.textContent).toBe('right: running');
    expect(drawn.describe(drawn.svg)).toBeNull();
  });

  it('setting states through the model repaints exactly the nodes whose state changed', () => {
    const states = new StepStates();
    const model = new DagModel();
    model.plan = plan();
    model.states = states;
    const drawn = renderDagSvg(document, layoutDag(model.plan), options(states));
    const layout = layoutDag(model.plan);
    const repainted: string[][] = [];
    // What DagView does on `stateChanged`.
    model.stateChanged.connect((_, steps) => {
      repainted.push([...steps]);
      for (const step of steps) {
        applyNodeState(
          drawn.nodes.get(step)!,
          layout.nodes.find(n => n.name === step)!,
          states.get(step),
          options(states)
        );
      }
    });
    const classOf = (step: string) => drawn.nodes.get(step)!.getAttribute('class');
    const untouched = classOf('right');
    states.set({ load: 'succeeded', left: 'running' });
    expect(repainted).toEqual([['load', 'left']]);
    expect(classOf('load')).toContain('jp-mod-succeeded');
    expect(classOf('left')).toContain('jp-mod-running');
    expect(classOf('right')).toBe(untouched);
    expect(drawn.nodes.get('left')!.getAttribute('aria-label')).toBe('left: running');
    states.set({ left: 'failed', load: 'succeeded' });
    expect(repainted[1]).toEqual(['left']);
    expect(classOf('left')).toContain('jp-mod-failed');
    expect(classOf('left')).not.toContain('jp-mod-running');
    states.clear();
    expect(classOf('left')).not.toContain('jp-mod-failed');
    expect(drawn.nodes.get('left')!.dataset.state).toBeUndefined();
    model.dispose();
  });

  it("handing the model another notebook's states repaints the steps either had", () => {
    const model = new DagModel();
    const a = new StepStates();
    const b = new StepStates();
    a.set({ load: 'running' });
    b.set({ join: 'cached' });
    model.states = a;
    const seen: string[][] = [];
    model.stateChanged.connect((_, steps) => seen.push([...steps].sort()));
    model.states = b;
    expect(seen).toEqual([['join', 'load']]);
    a.set({ load: 'failed' });
    expect(seen).toHaveLength(1);
    model.dispose();
  });
});
