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
}
