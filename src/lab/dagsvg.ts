/**
 * Draws a laid-out DAG as SVG with the DOM of a given document (the page's, or jsdom's in the
 * benchmark). Colours come from CSS classes only: a node's step colour
 * (`jp-chard-StepColor-N`) and its run state (`jp-mod-<state>`), both resolved by
 * style/dag.css from theme variables. Changing a state touches one node's attributes.
 */
import type { IDagEdge, IDagLayout, IDagNode } from './daglayout.js';
import { STEP_COLOURS } from './daglayout.js';
import type { StepState } from './tokens.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** What the drawing needs besides the layout. */
export interface IDagSvgOptions {
  /** Unique within the page (the arrowhead marker's id is derived from it). */
  id: string;
  state(step: string): StepState | undefined;
  /** The node's accessible name and tooltip, e.g. "split: running". */
  describeNode(node: IDagNode, state: StepState | undefined): string;
  /** The edge's tooltip, e.g. "load_data → split: df". */
  describeEdge(edge: IDagEdge): string;
}

/** The drawn graph: the root element and the node of every step, for state updates. */
export interface IDagSvg {
  svg: SVGSVGElement;
  nodes: Map<string, SVGGElement>;
  /**
   * The tooltip of a node's or an edge's group (`describeNode` / `describeEdge`), or null for
   * any other element. Its `<title>` is made the first time it is asked for (on hover or
   * focus), not for every node and edge up front.
   */
  describe(g: Element): string | null;
}

function el<K extends keyof SVGElementTagNameMap>(
  doc: Document,
  tag: K,
  attrs: Record<string, string | number> = {}
): SVGElementTagNameMap[K] {
  const e = doc.createElementNS(SVG_NS, tag);
  for (const k in attrs) {
    e.setAttribute(k, String(attrs[k]));
  }
  return e;
}

/** A rounded polyline through dagre's points (quadratic corners). */
export function edgePath(points: readonly { x: number; y: number }[]): string {
  if (points.length === 0) {
    return '';
  }
  const f = (n: number): string => n.toFixed(1);
  let d = `M${f(points[0].x)},${f(points[0].y)}`;
  if (points.length === 2) {
    return `${d}L${f(points[1].x)},${f(points[1].y)}`;
  }
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i];
    const next = points[i + 1];
    const mx = (p.x + next.x) / 2;
    const my = (p.y + next.y) / 2;
    d +=
      i === points.length - 2
        ? `Q${f(p.x)},${f(p.y)} ${f(next.x)},${f(next.y)}`
        : `Q${f(p.x)},${f(p.y)} ${f(mx)},${f(my)}`;
  }
  return d;
}

/** Set a node's state class and its accessible name. */
export function applyNodeState(
  g: SVGGElement,
  node: IDagNode,
  state: StepState | undefined,
  options: Pick<IDagSvgOptions, 'describeNode'>
): void {
  const previous = g.getAttribute('data-state');
  if (previous) {
    g.classList.remove(`jp-mod-${previous}`);
  }
  if (state) {
    g.classList.add(`jp-mod-${state}`);
    g.setAttribute('data-state', state);
  } else if (previous) {
    g.removeAttribute('data-state');
  }
  const text = options.describeNode(node, state);
  g.setAttribute('aria-label', text);
  const title = g.firstElementChild;
  if (title?.localName === 'title') {
    title.textContent = text;
  }
}

/** Give `g` its `<title>` (the browser's tooltip) with `text`, made when first needed. */
function setTitle(g: Element, text: string): void {
  // By name, not instanceof: the document may be another window's (jsdom's in the benchmark).
  let title = g.firstElementChild;
  if (title?.localName !== 'title') {
    title = g.ownerDocument.createElementNS(SVG_NS, 'title');
    g.insertBefore(title, g.firstChild);
  }
  if (title.textContent !== text) {
    title.textContent = text;
  }
}

export function renderDagSvg(doc: Document, layout: IDagLayout, options: IDagSvgOptions): IDagSvg {
  // Built with setAttribute only and without a <title> per element (made on demand by
  // `describe`): at 50 steps and more the drawing costs as much as dagre's layout otherwise.
  const svg = el(doc, 'svg', {
    class: 'jp-chard-Dag-svg',
    viewBox: `0 0 ${layout.width.toFixed(1)} ${layout.height.toFixed(1)}`,
    width: layout.width.toFixed(1),
    height: layout.height.toFixed(1),
    role: 'group'
  });
  const marker = `${options.id}-arrow`;
  const defs = el(doc, 'defs');
  const arrow = el(doc, 'marker', {
    id: marker,
    viewBox: '0 0 10 10',
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse'
  });
  arrow.append(el(doc, 'path', { d: 'M0,0L10,5L0,10z', class: 'jp-chard-DagEdge-arrow' }));
  defs.append(arrow);
  svg.append(defs);

  const edgeOf = new Map<Element, IDagEdge>();
  const edges = el(doc, 'g', { class: 'jp-chard-Dag-edges' });
  const markerEnd = `url(#${marker})`;
  for (const edge of layout.edges) {
    const g = el(doc, 'g', {
      class: edge.names.length === 0 ? 'jp-chard-DagEdge jp-mod-order' : 'jp-chard-DagEdge',
      'data-from': edge.from,
      'data-to': edge.to
    });
    const d = edgePath(edge.points);
    g.append(
      el(doc, 'path', { d, class: 'jp-chard-DagEdge-line', 'marker-end': markerEnd }),
      el(doc, 'path', { d, class: 'jp-chard-DagEdge-hit' })
    );
    edgeOf.set(g, edge);
    edges.append(g);
  }
  svg.append(edges);

  const nodes = new Map<string, SVGGElement>();
  const nodeOf = new Map<Element, IDagNode>();
  const group = el(doc, 'g', { class: 'jp-chard-Dag-nodes' });
  for (const node of layout.nodes) {
    const left = node.x - node.width / 2;
    const top = node.y - node.height / 2;
    const g = el(doc, 'g', {
      class: `jp-chard-DagNode jp-chard-StepColor-${node.index % STEP_COLOURS}`,
      transform: `translate(${left.toFixed(1)},${top.toFixed(1)})`,
      tabindex: 0,
      role: 'button',
      'data-step': node.name
    });
    if (node.firstCell !== null) {
      g.setAttribute('data-cell', String(node.firstCell));
    }
    const text = el(doc, 'text', {
      class: 'jp-chard-DagNode-label',
      x: 14,
      y: node.height / 2,
      'dominant-baseline': 'central'
    });
    text.textContent = node.label;
    g.append(
      el(doc, 'rect', {
        class: 'jp-chard-DagNode-box',
        width: node.width,
        height: node.height,
        rx: 4
      }),
      el(doc, 'rect', {
        class: 'jp-chard-DagNode-stripe',
        x: 0,
        y: 0,
        width: 6,
        height: node.height,
        rx: 2
      }),
      text,
      el(doc, 'circle', {
        class: 'jp-chard-DagNode-dot',
        cx: node.width - 9,
        cy: node.height / 2,
        r: 4
      })
    );
    applyNodeState(g, node, options.state(node.name), options);
    nodes.set(node.name, g);
    nodeOf.set(g, node);
    group.append(g);
  }
  svg.append(group);
  const describe = (g: Element): string | null => {
    const node = nodeOf.get(g);
    const edge = node ? undefined : edgeOf.get(g);
    if (!node && !edge) {
      return null;
    }
    const text = node
      ? options.describeNode(node, options.state(node.name))
      : options.describeEdge(edge!);
    setTitle(g, text);
    return text;
  };
  return { svg, nodes, describe };
}
