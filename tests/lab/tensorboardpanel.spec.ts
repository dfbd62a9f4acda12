/**
 * @jest-environment jsdom
 *
 * The TensorBoard panel's view: what it tells TensorBoard's page before it loads.
 */
import type { ITensorBoardSession } from '../../src/core/tensorboard.js';
import type { ITensorBoardOpenRequest } from '../../src/core/tensorboard.js';
import { ChardRequestError } from '../../src/lab/request.js';
import type { TensorBoardApi } from '../../src/lab/tensorboardapi.js';

// Lumino's widgets look for DragEvent when they load; jsdom has none.
(globalThis as { DragEvent?: unknown }).DragEvent ??= class extends MouseEvent {};
const { TensorBoardView } = await import('../../src/lab/tensorboardpanel.js');
type TensorBoardView = InstanceType<typeof TensorBoardView>;

const SESSION: ITensorBoardSession = {
  id: 'abc',
  target: 'local',
  url: 'chard/tensorboard/abc/',
  logdirs: [{ name: 'run', path: 'run' }],
  started: true
};

/** TensorBoard's settings as its page reads them when it loads. */
function tensorBoardSettings(): Record<string, unknown> {
  return JSON.parse(localStorage.getItem('_tb_global_settings') ?? '{}') as Record<string, unknown>;
}

/** A panel of `width` px (as laid out when TensorBoard's page loads). */
async function panel(width: number): Promise<TensorBoardView> {
  const api = {
    open: () => Promise.resolve(SESSION),
    close: () => Promise.resolve(),
    urlOf: () => 'about:blank'
  } as unknown as TensorBoardApi;
  const view = new TensorBoardView({ api, request: { notebook: 'n.ipynb', runs: ['run'] } });
  // Laid out before the backend answers (open is asynchronous).
  Object.defineProperty(view.node, 'clientWidth', { value: width });
  for (let i = 0; i < 20 && view.state !== 'ready'; i++) {
    await new Promise(resolve => setTimeout(resolve, 0));
  }
  expect(view.state).toBe('ready');
  return view;
}

describe('the TensorBoard panel', () => {
  beforeEach(() => localStorage.clear());

  it('opens TensorBoard with its settings pane closed in a narrow panel, where it would cover the charts', async () => {
    localStorage.setItem('_tb_global_settings', JSON.stringify({ scalarSmoothing: 0.3 }));
    const view = await panel(520);
    expect(tensorBoardSettings()).toEqual({
      scalarSmoothing: 0.3,
      theme: 'light',
      timeSeriesSettingsPaneOpened: false
    });
    view.dispose();
  });

  it('leaves the settings pane as the user had it in a wide panel', async () => {
    localStorage.setItem(
      '_tb_global_settings',
      JSON.stringify({ timeSeriesSettingsPaneOpened: true })
    );
    const view = await panel(1400);
    expect(tensorBoardSettings()).toEqual({ timeSeriesSettingsPaneOpened: true, theme: 'light' });
    view.dispose();
  });

  it("offers a cluster run's logs on this machine when the cluster has no TensorBoard, and says why that fails", async () => {
    const asked: ITensorBoardOpenRequest[] = [];
    const unreachable =
      'run R wrote its logs to the volume claim "ws", which this Jupyter server does not mount';
    const api = {
      open: (request: ITensorBoardOpenRequest) => {
        asked.push(request);
        return Promise.reject(
          request.target === 'cluster'
            ? new ChardRequestError(
                'api',
                'this cluster has no Kubeflow Tensorboard controller',
                424,
                'tensorboard-not-in-cluster'
              )
            : new ChardRequestError('api', unreachable, 404, 'logs-unreachable')
        );
      },
      close: () => Promise.resolve(),
      urlOf: () => 'about:blank'
    } as unknown as TensorBoardApi;
    const view = new TensorBoardView({
      api,
      request: { notebook: 'n.ipynb', runs: ['R'], target: 'cluster', path: 'logs' }
    });
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 20 && view.state !== 'failed'; i++) {
        await new Promise(resolve => setTimeout(resolve, 0));
      }
    };
    await settle();
    expect(view.node.querySelector('h3')?.textContent).toBe('This cluster cannot run TensorBoard');
    const local = [...view.node.querySelectorAll('button')].find(
      b => b.textContent === 'Open the run logs on this machine'
    );
    expect(local).toBeDefined();
    local?.click();
    await new Promise(resolve => setTimeout(resolve, 0));
    await settle();
    expect(asked[1]).toEqual({ notebook: 'n.ipynb', runs: ['R'], target: 'local' });
    expect(view.node.querySelector('h3')?.textContent).toBe(
      "The run's logs are not on this machine"
    );
    expect(view.node.querySelector('p')?.textContent).toBe(unreachable);
    view.dispose();
  });
});
