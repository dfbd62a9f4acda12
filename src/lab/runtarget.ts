/**
 * Where a notebook's pipeline runs, as the "Run with…" dialog edits it: read from and written to
 * the notebook's typed `chard` settings (`target`, `kubeContext`, `namespace`, `image`,
 * `kfpEndpoint`, `experimentName`, `snapshotClass`), and turned into the run service's request.
 */
import type { IStartRunRequest, RunTarget } from '../core/api.js';
import { CHARD_METADATA_KEY } from '../core/metadata.js';
import { isRecord } from '../core/notebook.js';
import type { IPlan, ParameterValue } from '../core/plan.js';

/** The choices of the dialog. */
export interface IRunChoice {
  target: RunTarget;
  /** Argo */
  context: string;
  namespace: string;
  image: string;
  /** `NAME[:PATH]` PVCs to snapshot (empty: the notebook pod's own). */
  volumes: string[];
  snapshot: boolean;
  /** KFP */
  endpoint: string;
  experiment: string;
  /** Values of the pipeline parameters for this run (only those changed from the notebook's). */
  parameters: Record<string, ParameterValue>;
}

/** The choice saved in the notebook (defaults for what it does not say). */
export function savedChoice(plan: IPlan | null): IRunChoice {
  const chard = plan?.pipeline.chard ?? {};
  return {
    target: chard.target ?? 'local',
    context: chard.kubeContext ?? '',
    namespace: chard.namespace ?? '',
    image: chard.image ?? '',
    volumes: [],
    snapshot: true,
    endpoint: chard.kfpEndpoint ?? '',
    experiment: chard.experimentName ?? '',
    parameters: {}
  };
}

/** Whether the notebook has said where it runs (otherwise the first click asks). */
export function hasSavedTarget(plan: IPlan | null): boolean {
  return plan?.pipeline.chard?.target !== undefined;
}

/** The run service's request for `notebook` (a path relative to the Jupyter root). */
export function startRequest(notebook: string, choice: IRunChoice): IStartRunRequest {
  const request: IStartRunRequest = { notebook, target: choice.target };
  if (Object.keys(choice.parameters).length > 0) {
    request.parameters = { ...choice.parameters };
  }
  const some = (v: string) => (v.trim() ? v.trim() : undefined);
  if (choice.target === 'argo') {
    request.argo = Private.defined({
      context: some(choice.context),
      namespace: some(choice.namespace),
      image: some(choice.image),
      workspace: choice.snapshot ? ('snapshot' as const) : ('live' as const),
      snapshotPvc: choice.volumes.length > 0 ? [...choice.volumes] : undefined
    });
  } else if (choice.target === 'kfp') {
    request.kfp = Private.defined({
      endpoint: some(choice.endpoint),
      experiment: some(choice.experiment),
      image: some(choice.image)
    });
  }
  return request;
}

/** The minimal notebook model the target is saved through. */
export interface IMetadataModel {
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: unknown): void;
}

/** Save the target (and its cluster fields) under the notebook's `chard` key, other keys kept. */
export function saveChoice(model: IMetadataModel, choice: IRunChoice): void {
  const current = model.getMetadata(CHARD_METADATA_KEY);
  const chard: Record<string, unknown> = isRecord(current) ? { ...current } : {};
  chard.target = choice.target;
  const put = (key: string, value: string) => {
    if (value.trim()) {
      chard[key] = value.trim();
    } else {
      delete chard[key];
    }
  };
  if (choice.target === 'argo') {
    put('kubeContext', choice.context);
    put('namespace', choice.namespace);
    put('image', choice.image);
  } else if (choice.target === 'kfp') {
    put('kfpEndpoint', choice.endpoint);
    put('experimentName', choice.experiment);
    put('image', choice.image);
  }
  model.setMetadata(CHARD_METADATA_KEY, chard);
}

/** Parse a parameter's text as the type the notebook declares; null when it is not one. */
export function parseParameter(
  type: 'int' | 'float' | 'str' | 'bool',
  text: string
): ParameterValue | null {
  switch (type) {
    case 'int':
      return /^\s*[-+]?\d+\s*$/.test(text) ? Number.parseInt(text, 10) : null;
    case 'float': {
      const n = Number(text);
      return text.trim() !== '' && Number.isFinite(n) ? n : null;
    }
    case 'bool':
      return text === 'true' ? true : text === 'false' ? false : null;
    default:
      return text;
  }
}

namespace Private {
  export function defined<T extends object>(value: T): T {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
  }
}
