/**
 * Chard's JupyterLab extension: the plugin list, one plugin per feature.
 */
import type { JupyterFrontEndPlugin } from '@jupyterlab/application';
import { backendPlugin } from './backend.js';
import { chipsPlugin } from './chips.js';
import { dagPlugin } from './dagpanel.js';
import { pipelinePlugin } from './pipeline.js';
import { plansPlugin } from './plans.js';
import { runPlugin } from './runplugin.js';
import { stepEditorPlugin } from './stepeditor.js';
import { tensorBoardPlugin } from './tensorboard.js';

const plugins: JupyterFrontEndPlugin<unknown>[] = [
  backendPlugin,
  plansPlugin,
  pipelinePlugin,
  dagPlugin,
  stepEditorPlugin,
  chipsPlugin,
  tensorBoardPlugin,
  runPlugin
];

export default plugins;
