/** Every command Chard's JupyterLab plugins add. */
export namespace CommandIDs {
  /** Open the Pipeline sidebar. */
  export const showPlan = 'chard:show-plan';
  /** Open the pipeline's DAG in the main area. */
  export const showDag = 'chard:show-dag';
  /** Open the step editor for the selected cells (or the cell whose chip was clicked). */
  export const editStep = 'chard:edit-step';
  /** Make the selected cells a step (asks for the name unless `name` is given). */
  export const makeStep = 'chard:make-step';
  export const tagImports = 'chard:tag-imports';
  export const tagFunctions = 'chard:tag-functions';
  export const tagParameters = 'chard:tag-parameters';
  export const tagMetrics = 'chard:tag-metrics';
  export const skipCells = 'chard:skip-cells';
  /** Remove the step-definition tags of the selected cells (they join the step above). */
  export const clearTags = 'chard:clear-tags';
  /** Open TensorBoard on runs: `{notebook?, runs?, logdirs?, target?}`; without runs: a picker. */
  export const openTensorBoard = 'chard:open-tensorboard';
  /** Run the notebook as a pipeline on its saved target ("Run as pipeline"). */
  export const runPipeline = 'chard:run-pipeline';
  /** Choose the target and parameters, then run ("Run with…"). */
  export const runPipelineWith = 'chard:run-pipeline-with';
  /** Compile the notebook (`target`: argo or kfp) and show the manifest. */
  export const compilePipeline = 'chard:compile-pipeline';
  /** Run the notebook on a cluster (Argo or KFP), choosing in the dialog. */
  export const submitPipeline = 'chard:submit-pipeline';
  /** Cancel the run shown in the run monitor. */
  export const cancelRun = 'chard:cancel-run';
  /** Open the run monitor of the notebook (`notebook`, `run` optional). */
  export const openRuns = 'chard:open-runs';
}
