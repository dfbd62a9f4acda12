/**
 * `jupyterlab-chard:tensorboard`: "Open TensorBoard" on a notebook's runs, in a main-area panel
 * (a `MainAreaWidget` tracked by a `WidgetTracker`, restored by the layout restorer).
 * `chard:open-tensorboard` takes `{notebook?, runs?, logdirs?, target?}`; without runs or log
 * directories it asks with the run picker. The run monitor calls it with the run's id.
 */
import { ILayoutRestorer } from '@jupyterlab/application';
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  IThemeManager,
  MainAreaWidget,
  showDialog,
  showErrorMessage,
  ToolbarButton,
  WidgetTracker
} from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { refreshIcon } from '@jupyterlab/ui-components';
import type { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import type { ITensorBoardLogDir, ITensorBoardOpenRequest } from '../core/tensorboard.js';
import { isLogDir } from '../core/tensorboard.js';
import { CommandIDs } from './commands.js';
import { TensorBoardApi } from './tensorboardapi.js';
import { TensorBoardView } from './tensorboardpanel.js';
import { TensorBoardPicker } from './tensorboardpicker.js';

export const tensorBoardPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyterlab-chard:tensorboard',
  description:
    "Open TensorBoard on a run's logs (this machine or the cluster) in a main-area panel.",
  autoStart: true,
  optional: [INotebookTracker, ILayoutRestorer, ICommandPalette, ITranslator, IThemeManager],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    translator: ITranslator | null,
    themes: IThemeManager | null
  ): void => {
    const trans = (translator ?? nullTranslator).load('jupyterlab-chard');
    const api = new TensorBoardApi(app.serviceManager.serverSettings);
    const tracker = new WidgetTracker<MainAreaWidget<TensorBoardView>>({
      namespace: 'chard-tensorboard'
    });

    const openPanel = (request: ITensorBoardOpenRequest): MainAreaWidget<TensorBoardView> => {
      const key = Private.keyOf(request);
      const existing = tracker.find(w => Private.keyOf(w.content.request) === key);
      if (existing) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const content = new TensorBoardView({
        api,
        request,
        translator: translator ?? undefined,
        isLight: () => !themes?.theme || themes.isLight(themes.theme)
      });
      const widget = new MainAreaWidget({ content });
      widget.id = Private.nextId();
      widget.title.label = trans.__('TensorBoard: %1', Private.labelOf(request));
      widget.title.caption = widget.title.label;
      widget.title.closable = true;
      widget.toolbar.addItem(
        'reload',
        new ToolbarButton({
          icon: refreshIcon,
          tooltip: trans.__('Reload TensorBoard'),
          onClick: () => content.reload()
        })
      );
      void tracker.add(widget);
      app.shell.add(widget, 'main');
      app.shell.activateById(widget.id);
      return widget;
    };

    const pick = async (notebook: string): Promise<ITensorBoardOpenRequest | null> => {
      let runs;
      try {
        runs = (await api.runs(notebook)).runs;
      } catch (error) {
        await showErrorMessage(
          trans.__('Cannot list the runs'),
          error instanceof Error ? error.message : String(error)
        );
        return null;
      }
      const result = await showDialog({
        title: trans.__('Open TensorBoard on the runs of %1', notebook),
        body: new TensorBoardPicker(runs, trans),
        buttons: [Dialog.cancelButton(), Dialog.okButton({ label: trans.__('Open') })]
      });
      if (!result.button.accept || !result.value) {
        return null;
      }
      const { runs: chosen, logdir } = result.value;
      const logdirs: ITensorBoardLogDir[] = logdir ? [{ name: logdir, path: logdir }] : [];
      if (chosen.length === 0 && logdirs.length === 0) {
        return null;
      }
      return { notebook, runs: chosen, logdirs };
    };

    app.commands.addCommand(CommandIDs.openTensorBoard, {
      label: args =>
        args.runs || args.logdirs ? trans.__('Open TensorBoard') : trans.__('Open TensorBoard…'),
      caption: trans.__("Open TensorBoard on a run's training curves"),
      execute: async args => {
        const request = Private.requestOf(args, notebooks?.currentWidget?.context.path);
        if (!request.notebook && !request.logdirs?.length) {
          await showErrorMessage(
            trans.__('Open TensorBoard'),
            trans.__('Open a notebook first: TensorBoard shows the logs of its runs.')
          );
          return;
        }
        if (!request.runs?.length && !request.logdirs?.length) {
          const picked = await pick(request.notebook ?? '');
          if (!picked) {
            return;
          }
          return openPanel({ ...picked, target: request.target });
        }
        return openPanel(request);
      }
    });
    palette?.addItem({ command: CommandIDs.openTensorBoard, category: trans.__('Chard') });
    themes?.themeChanged.connect(() => tracker.forEach(widget => widget.content.reload()));

    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openTensorBoard,
        args: widget => widget.content.request as ReadonlyPartialJSONObject,
        name: widget => Private.keyOf(widget.content.request)
      });
    }
  }
};

namespace Private {
  let counter = 0;

  export function nextId(): string {
    counter += 1;
    return `chard-tensorboard-${counter}`;
  }

  function strings(value: unknown): string[] | undefined {
    return Array.isArray(value) && value.every(v => typeof v === 'string')
      ? (value as string[])
      : undefined;
  }

  export function requestOf(
    args: ReadonlyPartialJSONObject,
    current?: string
  ): ITensorBoardOpenRequest {
    const logdirs = Array.isArray(args.logdirs) ? args.logdirs.filter(isLogDir) : undefined;
    return {
      notebook: typeof args.notebook === 'string' ? args.notebook : current,
      runs: strings(args.runs),
      logdirs,
      target: args.target === 'cluster' ? 'cluster' : 'local',
      ...(typeof args.claim === 'string' ? { claim: args.claim } : {}),
      ...(typeof args.path === 'string' ? { path: args.path } : {})
    };
  }

  export function keyOf(request: ITensorBoardOpenRequest): string {
    return JSON.stringify([
      request.target ?? 'local',
      request.notebook ?? '',
      [...(request.runs ?? [])].sort(),
      (request.logdirs ?? []).map(d => d.path).sort()
    ]);
  }

  export function labelOf(request: ITensorBoardOpenRequest): string {
    const names = [...(request.runs ?? []), ...(request.logdirs ?? []).map(d => d.name)];
    return names.length <= 2 ? names.join(', ') : `${names[0]} +${names.length - 1}`;
  }
}
