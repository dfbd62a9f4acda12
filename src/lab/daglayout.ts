/**
 * The plan's DAG laid out for drawing: a node per step, an edge per parent relation with the
 * variables it carries. The layout is dagre's (layered, top to bottom); this module adds only
 * the node sizes and the data the view draws. No DOM here: it runs in Node for the benchmark.
 */
import dagre from '@dagrejs/dagre';
import type { IPlan } from '../core/plan.js';
import type { StepState } from './tokens.js';

/** The states a step can be in during a run (no state: the plan has not run). */
export const STEP_STATES: readonly StepState[] = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
  'cached'
];

/** How many step colours the theme defines (`--jp-chard-step-color-0` ... `-5`). */
export const STEP_COLOURS = 6;

export interface IDagNode {
  /** The step name. */
  name: string;
  /** Its position in the plan: also picks its colour (`index % STEP_COLOURS`). */
  index: number;
  /** Centre and size, in layout units (CSS pixels at zoom 1). */
  x: number;
  y: number;
  width: number;
  height: number;
  /** The label drawn (the name, shortened with an ellipsis when long). */
  label: string;
  /** 0-based index of the step's first cell, or null. */
  firstCell: number | null;
}

export interface IDagEdge {
  from: string;
  to: string;
  /** The variables this edge carries; empty for an ordering-only (`prev:`) edge. */
  names: string[];
  /** The polyline dagre routed, from the parent's border to the child's. */
  points: { x: number; y: number }[];
}

export interface IDagLayout {
  width: number;
  height: number;
  nodes: IDagNode[];
  edges: IDagEdge[];
}

/** Node geometry: a fixed height, a width from the label's length (monospace-ish estimate). */
export namespace DagGeometry {
  export const NODE_HEIGHT = 30;
  export const MIN_WIDTH = 72;
  export const MAX_LABEL = 24;
  export const CHAR_WIDTH = 7;
  export const PADDING = 26;
  export const MARGIN = 12;
}

/** The name as drawn: at most `MAX_LABEL` characters, with an ellipsis when cut. */
export function nodeLabel(name: string): string {
  const chars = [...name];
  return chars.length <= DagGeometry.MAX_LABEL
    ? name
    : `${chars.slice(0, DagGeometry.MAX_LABEL - 1).join('')}…`;
}

/** Lay the plan's steps out with dagre. Edges follow `parents`, labelled by `plan.edges`. */
export function layoutDag(plan: IPlan): IDagLayout {
  const g = new dagre.graphlib.Graph<object, { width: number; height: number }, object>({
    multigraph: false
  });
  g.setGraph({
    rankdir: 'TB',
    nodesep: 16,
    ranksep: 28,
    edgesep: 8,
    // dagre's default network-simplex ranker costs twice the time at 200 steps for a layout
    // that differs little on pipeline-shaped graphs (measured with `npm run bench -- dag`).
    ranker: 'tight-tree',
    marginx: DagGeometry.MARGIN,
    marginy: DagGeometry.MARGIN
  });
  g.setDefaultEdgeLabel(() => ({}));
  const labels = new Map<string, string>();
  for (const step of plan.steps) {
    const label = nodeLabel(step.name);
    labels.set(step.name, label);
    const width = Math.max(
      DagGeometry.MIN_WIDTH,
      [...label].length * DagGeometry.CHAR_WIDTH + DagGeometry.PADDING
    );
    g.setNode(step.name, { width, height: DagGeometry.NODE_HEIGHT });
  }
  const carried = new Map<string, string[]>();
  for (const e of plan.edges) {
    carried.set(Private.key(e.from, e.to), e.names);
  }
  const pairs: [string, string][] = [];
  for (const step of plan.steps) {
    for (const parent of step.parents) {
      if (labels.has(parent) && parent !== step.name) {
        g.setEdge(parent, step.name);
        pairs.push([parent, step.name]);
      }
    }
  }
  dagre.layout(g);
  const graph = g.graph() as { width?: number; height?: number };
  const nodes = plan.steps.map((step, index): IDagNode => {
    const n = g.node(step.name) as { x: number; y: number; width: number; height: number };
    return {
      name: step.name,
      index,
      x: n.x,
      y: n.y,
      width: n.width,
      height: n.height,
      label: labels.get(step.name) ?? step.name,
      firstCell: step.cells.length > 0 ? Math.min(...step.cells) : null
    };
  });
  const edges = pairs.map(([from, to]): IDagEdge => {
    const e = g.edge(from, to) as { points?: { x: number; y: number }[] };
    return {
      from,
      to,
      names: [...(carried.get(Private.key(from, to)) ?? [])],
      points: (e.points ?? []).map(p => ({ x: p.x, y: p.y }))
    };
  });
  return {
    width: Math.max(graph.width ?? 0, 2 * DagGeometry.MARGIN),
    height: Math.max(graph.height ?? 0, 2 * DagGeometry.MARGIN),
    nodes,
    edges
  };
}

namespace Private {
  export function key(from: string, to: string): string {
    return JSON.stringify([from, to]);
  }
}
