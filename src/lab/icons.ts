import { LabIcon } from '@jupyterlab/ui-components';

/** A small DAG; coloured by JupyterLab's `jp-icon3` theme rule (no fixed colours). */
const PIPELINE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="currentColor" stroke="currentColor">
    <circle cx="12" cy="4.5" r="2.5" stroke-width="0"/>
    <circle cx="5" cy="12" r="2.5" stroke-width="0"/>
    <circle cx="19" cy="12" r="2.5" stroke-width="0"/>
    <circle cx="12" cy="19.5" r="2.5" stroke-width="0"/>
    <path d="M12 4.5 5 12l7 7.5 7-7.5z" fill="none" stroke-width="1.6"/>
  </g>
</svg>`;

export const pipelineIcon = new LabIcon({
  name: 'jupyterlab-chard:pipeline',
  svgstr: PIPELINE_SVG
});
