/**
 * @jest-environment jsdom
 *
 * What a step showed, under its log in the run monitor: the step's MIME bundles drawn by
 * JupyterLab's own renderers (a real RenderMimeRegistry), untrusted; reloaded when the step ends.
 */
import type { IStepOutputs } from '../../src/core/richoutputs.js';
import type { StepOutputs } from '../../src/lab/stepoutputs.js';

// What jsdom lacks and JupyterLab's packages use as they load (as @jupyterlab/testing's shim
// gives): DragEvent (Lumino's drag and drop extends it), matchMedia (the toolkit's styles) and
// the system clipboard (JupyterLab's clipboard warns without one).
Object.defineProperty(navigator, 'clipboard', { value: {}, configurable: true });
(globalThis as { DragEvent?: unknown }).DragEvent ??= class extends MouseEvent {};
window.matchMedia ??= (query: string) =>
  ({
    matches: false,
    media: query,
    onchange: null,
    addListener: () => undefined,
    removeListener: () => undefined,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
    dispatchEvent: () => false
  }) as MediaQueryList;
const { RenderMimeRegistry, standardRendererFactories } = await import('@jupyterlab/rendermime');
const { nullTranslator } = await import('@jupyterlab/translation');
const { StepOutputs: StepOutputsView } = await import('../../src/lab/stepoutputs.js');

// A 1x1 PNG.
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
const TABLE =
  '<div><style scoped>td { color: red; }</style><table class="dataframe"><thead><tr><th>model</th>' +
  '<th>auc</th></tr></thead><tbody><tr><td>forest</td><td>0.91</td></tr></tbody></table>' +
  '<script>window.ran = true;</script><img src="x" onerror="window.ran = true"></div>';

function shown(step: string): IStepOutputs {
  return {
    step,
    outputs: [
      {
        output_type: 'display_data',
        cell: 3,
        data: { 'image/png': PNG, 'text/plain': '<Figure size 640x480 with 1 Axes>' },
        metadata: {}
      },
      {
        output_type: 'execute_result',
        cell: 3,
        data: { 'text/html': TABLE, 'text/plain': '    model   auc' },
        metadata: {},
        execution_count: null
      },
      {
        output_type: 'display_data',
        cell: 5,
        data: { 'application/javascript': 'window.ran = true', 'text/plain': 'a widget' },
        metadata: {}
      }
    ],
    truncated: null
  };
}

class FakeSource {
  answers: (IStepOutputs | Error)[] = [];
  asked: string[] = [];
  async stepOutputs(id: string, step: string): Promise<IStepOutputs> {
    this.asked.push(`${id}/${step}`);
    const answer = this.answers.shift() ?? { step, outputs: [], truncated: null };
    if (answer instanceof Error) {
      throw answer;
    }
    return answer;
  }
}

function view(source: FakeSource): StepOutputs {
  const widget = new StepOutputsView({
    source,
    rendermime: new RenderMimeRegistry({ initialFactories: standardRendererFactories }),
    trans: nullTranslator.load('jupyterlab')
  });
  document.body.append(widget.node);
  return widget;
}

const settle = () => new Promise(resolve => setTimeout(resolve, 50));

describe('the outputs of a step in the run monitor', () => {
  afterEach(() => {
    document.body.replaceChildren();
    delete (window as { ran?: boolean }).ran;
  });

  it('draws the figure as an image, the table as sanitized HTML, and text where nothing richer is safe', async () => {
    const source = new FakeSource();
    source.answers.push(shown('evaluate'));
    const widget = view(source);
    await widget.showStep('run-1', 'evaluate');
    await settle();
    expect(source.asked).toEqual(['run-1/evaluate']);
    expect(widget.node.hidden).toBe(false);
    expect(widget.node.querySelector('h3')?.textContent).toBe('Outputs of evaluate');
    const img = widget.node.querySelector<HTMLImageElement>('[data-mime-type="image/png"] img');
    expect(img?.src).toBe(`data:image/png;base64,${PNG}`);
    const table = widget.node.querySelector('[data-mime-type="text/html"] table');
    expect(table?.textContent).toContain('forest0.91');
    const html = widget.node.querySelector('[data-mime-type="text/html"]')?.innerHTML ?? '';
    expect(html).not.toContain('<script');
    expect(html).not.toContain('onerror');
    const plain = widget.node.querySelector('[data-mime-type="text/plain"]');
    expect(plain?.textContent).toContain('a widget');
    expect(widget.node.querySelector('[data-mime-type="application/javascript"]')).toBeNull();
    expect((window as { ran?: boolean }).ran).toBeUndefined();
    const cells = [...widget.node.querySelectorAll('.jp-chard-StepOutputs-cell')];
    expect(cells.map(c => c.textContent)).toEqual(['Cell 4', 'Cell 6']);
    expect(widget.count).toBe(3);
  });

  it('reloads as the step shown shows more and when it ends, not for other steps or runs, and hides when there is nothing', async () => {
    const source = new FakeSource();
    const widget = view(source);
    await widget.showStep('run-1', 'train');
    expect(widget.node.hidden).toBe(true);
    const finished = (run: string, step: string) =>
      ({
        event: 'step-finished',
        run,
        time: '',
        step,
        status: 'succeeded',
        exitCode: 0,
        message: null,
        cell: null,
        line: null
      }) as const;
    widget.onEvent(finished('run-1', 'load'));
    widget.onEvent(finished('run-2', 'train'));
    widget.onEvent({ event: 'step-started', run: 'run-1', time: '', step: 'train' });
    expect(source.asked).toEqual(['run-1/train']);
    source.answers.push(shown('train'));
    // While it runs, each time it showed something new (a step-outputs event).
    widget.onEvent({ event: 'step-outputs', run: 'run-1', time: '', step: 'load' });
    widget.onEvent({ event: 'step-outputs', run: 'run-1', time: '', step: 'train' });
    await settle();
    expect(source.asked).toEqual(['run-1/train', 'run-1/train']);
    expect(widget.count).toBe(3);
    source.answers.push(shown('train'));
    widget.onEvent(finished('run-1', 'train'));
    await settle();
    expect(source.asked).toEqual(['run-1/train', 'run-1/train', 'run-1/train']);
    expect(widget.count).toBe(3);
    await widget.showStep(null, null);
    expect(widget.node.hidden).toBe(true);
    expect(widget.count).toBe(0);
  });

  it('shows the answer of the step chosen last, says what was left out, and why it cannot show', async () => {
    const source = new FakeSource();
    const widget = view(source);
    source.answers.push(shown('a'), {
      step: 'b',
      outputs: [],
      truncated: { outputs: 7, bytes: 20_000_000, maxBytes: 16_777_216, maxOutputs: 500 }
    });
    const first = widget.showStep('run-1', 'a');
    const second = widget.showStep('run-1', 'b');
    await Promise.all([first, second]);
    expect(widget.count).toBe(0);
    expect(widget.node.querySelector('h3')?.textContent).toBe('Outputs of b');
    expect(widget.node.querySelector('.jp-chard-StepOutputs-note')?.textContent).toBe(
      '7 more outputs (20.0 MB) were not kept: a step keeps at most 500 outputs and 16.8 MB of them.'
    );
    source.answers.push(new Error('the Chard server extension is not installed'));
    await widget.showStep('run-1', 'c');
    expect(widget.node.querySelector('.jp-chard-StepOutputs-note')?.textContent).toBe(
      'Cannot show what the step showed: the Chard server extension is not installed'
    );
    await widget.showStep('run-1', 'd', false);
    expect(widget.node.hidden).toBe(true);
    expect(source.asked).toEqual(['run-1/a', 'run-1/b', 'run-1/c']);
  });
});
