/**
 * The metrics of a notebook's past runs as small charts, one per numeric metric, the runs in
 * the order they were made (oldest on the left), drawn with uPlot (small, fast, MIT). The
 * canvas cannot read CSS variables, so every colour and font is read from the theme's `--jp-*`
 * variables when uPlot draws: `redraw()` after a theme change repaints in the new theme.
 */
import type { TranslationBundle } from '@jupyterlab/translation';
import uPlot from 'uplot';

/** A run's metrics as the charts read them. */
export interface IMetricRun {
  id: string;
  /** When the run was made (ISO time), shown with the value on hover. */
  createdAt: string;
  metrics: Readonly<Record<string, number | string | boolean>>;
}

/** The metrics that have a number in at least one run (strings and booleans are not drawn). */
export function numericMetrics(runs: readonly IMetricRun[]): string[] {
  const names = new Set<string>();
  for (const run of runs) {
    for (const [name, value] of Object.entries(run.metrics)) {
      if (typeof value === 'number' && Number.isFinite(value)) {
        names.add(name);
      }
    }
  }
  return [...names].sort();
}

/** A metric's series across runs: x is the run's position (1 = oldest), y its value or null. */
export function metricSeries(
  runs: readonly IMetricRun[],
  name: string
): [x: number[], y: (number | null)[]] {
  const x = runs.map((_, i) => i + 1);
  const y = runs.map(run => {
    const value = run.metrics[name];
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  });
  return [x, y];
}

/** The axes' tick length and the gap between ticks and labels, in CSS pixels. */
const TICK = 4;
const GAP = 3;

export class MetricsCharts {
  constructor(options: MetricsCharts.IOptions) {
    this._trans = options.trans;
    this._width = options.width ?? 240;
    this._height = options.height ?? 130;
    this.node.className = 'jp-chard-MetricsCharts';
  }

  readonly node = document.createElement('div');

  /** The metrics drawn, in order. */
  get names(): readonly string[] {
    return this._charts.map(c => c.name);
  }

  /** Draw the charts of these runs (oldest first); replaces the charts drawn before. */
  update(runs: readonly IMetricRun[]): void {
    this._clear();
    this._runs = [...runs];
    for (const name of numericMetrics(runs)) {
      const figure = document.createElement('figure');
      figure.className = 'jp-chard-MetricsChart';
      figure.dataset.metric = name;
      const caption = document.createElement('figcaption');
      caption.textContent = name;
      const plot = document.createElement('div');
      plot.className = 'jp-chard-MetricsChart-plot';
      plot.setAttribute('role', 'img');
      const [x, y] = metricSeries(runs, name);
      plot.setAttribute('aria-label', this._describe(name, y));
      figure.append(caption, plot);
      this.node.append(figure);
      const chart = new uPlot(this._options(name), [x, y], plot);
      this._charts.push({ name, chart });
    }
  }

  /** Repaint with the theme's current colours (after a theme change). */
  redraw(): void {
    for (const { chart } of this._charts) {
      chart.redraw(false, true);
    }
  }

  dispose(): void {
    this._clear();
  }

  private _clear(): void {
    for (const { chart } of this._charts) {
      chart.destroy();
    }
    this._charts = [];
    this.node.replaceChildren();
  }

  /** "accuracy over 4 runs: 0.8, 0.85, none, 0.9" for assistive technology. */
  private _describe(name: string, values: (number | null)[]): string {
    const t = this._trans;
    const list = values.map(v => (v === null ? t.__('none') : Private.exact(v))).join(', ');
    return t._n('%2 over %1 run: %3', '%2 over %1 runs: %3', values.length, name, list);
  }

  private _options(name: string): uPlot.Options {
    const t = this._trans;
    const colour = (variable: string) => () => Private.themeValue(this.node, variable);
    // uPlot lays its axes out from a font size in pixels: the theme's (an em size) as the page
    // computes it, a little smaller than the text around the chart.
    const font = () => {
      const px = parseFloat(getComputedStyle(this.node).fontSize) || 12;
      const family = Private.themeValue(this.node, '--jp-ui-font-family') || 'sans-serif';
      return `${Math.round(px * 0.85)}px ${family}`;
    };
    const axis = (): uPlot.Axis => ({
      stroke: colour('--jp-ui-font-color2'),
      font: font(),
      size: 36,
      gap: GAP,
      grid: { stroke: colour('--jp-border-color2'), width: 1 },
      ticks: { stroke: colour('--jp-border-color2'), width: 1, size: TICK }
    });
    return {
      width: this._width,
      height: this._height,
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      scales: { x: { time: false } },
      legend: { markers: { show: false } },
      axes: [
        {
          ...axis(),
          size: 24,
          // Whole run positions only.
          incrs: [1, 2, 5, 10, 20, 50],
          values: (_u, splits) => splits.map(v => (Number.isInteger(v) ? String(v) : ''))
        },
        // uPlot's own tick labels (as many decimals as the ticks' step needs), the axis as wide
        // as its longest label.
        {
          ...axis(),
          size: (u, values) => {
            const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), '');
            u.ctx.font = font();
            return Math.ceil(u.ctx.measureText(longest).width) + TICK + GAP + 2;
          }
        }
      ],
      series: [
        {
          label: t.__('Run'),
          value: (_u, v) => this._runLabel(v)
        },
        {
          label: name,
          stroke: colour('--jp-brand-color1'),
          width: 1.5,
          spanGaps: true,
          points: {
            show: true,
            size: 5,
            stroke: colour('--jp-brand-color1'),
            fill: colour('--jp-layout-color1')
          },
          value: (_u, v) => (v === null || v === undefined ? '–' : Private.exact(v))
        }
      ]
    };
  }

  /** The run at an x position, as the legend shows it on hover. */
  private _runLabel(x: number | null): string {
    const run = x === null ? undefined : this._runs[Math.round(x) - 1];
    if (!run) {
      return '–';
    }
    return this._trans.__('%1 (%2)', run.id, new Date(run.createdAt).toLocaleString());
  }

  private readonly _trans: TranslationBundle;
  private readonly _width: number;
  private readonly _height: number;
  private _runs: IMetricRun[] = [];
  private _charts: { name: string; chart: uPlot }[] = [];
}

export namespace MetricsCharts {
  export interface IOptions {
    trans: TranslationBundle;
    /** One chart's size in CSS pixels (default 240 × 130). */
    width?: number;
    height?: number;
  }
}

namespace Private {
  /** A theme variable's value where the charts are (light or dark). */
  export function themeValue(node: HTMLElement, name: string): string {
    return getComputedStyle(node).getPropertyValue(name).trim();
  }

  /** A value as read on hover and by assistive technology: up to 6 significant digits. */
  export function exact(v: number): string {
    return String(Number(v.toPrecision(6)));
  }
}
