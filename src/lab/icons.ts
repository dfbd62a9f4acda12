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

function toolbarIcon(name: string, body: string): LabIcon {
  return new LabIcon({
    name: `jupyterlab-chard:${name}`,
    svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24"><g class="jp-icon3" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round">${body}</g></svg>`
  });
}

/** Fit the graph to the width: a frame with arrows out. */
export const fitIcon = toolbarIcon(
  'fit',
  '<path d="M4 9V4h5M20 9V4h-5M4 15v5h5M20 15v5h-5"/><rect x="8" y="8" width="8" height="8" rx="1"/>'
);

export const zoomInIcon = toolbarIcon(
  'zoom-in',
  '<circle cx="10.5" cy="10.5" r="6.5"/><path d="M15.5 15.5 21 21M10.5 7.5v6M7.5 10.5h6"/>'
);

export const zoomOutIcon = toolbarIcon(
  'zoom-out',
  '<circle cx="10.5" cy="10.5" r="6.5"/><path d="M15.5 15.5 21 21M7.5 10.5h6"/>'
);
