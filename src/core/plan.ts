import type { IChardSettings } from './settings.js';

/**
 * The pipeline plan: the intermediate representation between notebook analysis and every
 * compiler (Argo, Kubeflow Pipelines, the local runner). Plain data, JSON-serializable.
 * No compiler ever re-reads the notebook: everything a target needs is here.
 */

/** Where a diagnostic points. `cell` is a 0-based notebook cell index; `line` 1-based in that cell. */
export interface IDiagnostic {
  severity: 'error' | 'warning';
  /** 0-based index of the notebook cell, or null for notebook-wide problems. */
  cell: number | null;
  /** 1-based line within the cell's source, or null. */
  line: number | null;
  message: string;
}

/** One notebook cell's code as it travels into a step. */
export interface ICodeBlock {
  /** 0-based notebook cell index. */
  cell: number;
  /** The cell's source exactly as in the notebook (IPython syntax included). */
  source: string;
}

export interface ISecretRef {
  /** Kubernetes Secret name. */
  secret: string;
  /** Key inside the Secret. */
  key: string;
  /** Environment variable the value is exposed as. */
  env: string;
}

/** Per-step Kubernetes settings, from tags and `steps_defaults`. */
export interface IStepResources {
  /** `limit:KEY:VALUE`, e.g. `{ cpu: '2', memory: '4Gi', 'nvidia.com/gpu': '1' }`. */
  limits: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** `image:REF`; undefined means the pipeline default. */
  image?: string;
  /** `cache:enabled|disabled`; undefined means the target's default. */
  cache?: boolean;
  secrets: ISecretRef[];
}

export interface IStep extends IStepResources {
  /** The step name as the user wrote it (`step:NAME`) or as proposed. */
  name: string;
  /** Kubernetes-safe (DNS-1123 label) name, unique within the plan, deterministic. */
  id: string;
  /** 0-based indices of the notebook cells that make up this step (prelude cells excluded). */
  cells: number[];
  /** The step's own code blocks, in notebook order. */
  code: ICodeBlock[];
  /** Names this step reads that an earlier step supplies (sorted). */
  inputs: string[];
  /** Names this step supplies that some later step reads (sorted). */
  outputs: string[];
  /** Pipeline parameters this step reads (sorted). */
  parameters: string[];
  /** Metrics this step records: names from `pipeline-metrics` that this step supplies last. */
  metrics: string[];
  /** Names of the parent steps (data edges and `prev:` edges), in plan order. */
  parents: string[];
  /** For each input name, the step that supplies it. */
  inputSources: Record<string, string>;
}

export interface IEdge {
  from: string;
  to: string;
  /** Variables passed along this edge (sorted); empty for a pure `prev:` ordering edge. */
  names: string[];
}

export type ParameterType = 'int' | 'float' | 'str' | 'bool';
export type ParameterValue = number | string | boolean;

export interface IParameter {
  name: string;
  type: ParameterType;
  /** The default value, from the `pipeline-parameters` cell. */
  value: ParameterValue;
  cell: number;
  line: number;
}

export interface IMetric {
  name: string;
  /** The step that records it, or null when no step supplies the name (an error diagnostic). */
  step: string | null;
  cell: number;
  line: number;
}

/** A workspace volume as the notebook declares it (Kale's `kubeflow_notebook.volumes`). */
export interface IVolume {
  /** `pvc` (an existing claim; Kale's `clone` reads as this) or `new_pvc` (a claim to create). */
  type: string;
  /** Claim (or snapshot) name. */
  name: string;
  mountPoint: string;
  size?: string;
  storageClass?: string;
  accessModes?: string[];
  annotations?: Record<string, string>;
  /** Restore from this VolumeSnapshot (set by the cluster snapshot step). */
  snapshot?: string;
  readOnly?: boolean;
}

/** Pipeline-wide settings: Kale's `kubeflow_notebook` metadata merged with Chard's own `chard` key. */
export interface IPipelineSettings {
  /** Pipeline name as the user wrote it. */
  name: string;
  /** DNS-1123 form of the name. */
  id: string;
  description: string;
  experiment: string;
  /** Default step image (`docker_image` / `base_image`), if the notebook says. */
  image?: string;
  volumes: IVolume[];
  /** Kale's `autosnapshot`: snapshot the workspace volumes before the run. */
  autosnapshot: boolean;
  /** Chard's own settings from the `chard` notebook metadata key, validated (settings.ts). */
  chard: IChardSettings;
}

export interface IPlan {
  /** Plan format version. */
  version: 1;
  pipeline: IPipelineSettings;
  /** True when the notebook had no step tags and Chard proposed the steps. */
  proposed: boolean;
  /** `imports` cells, prepended to every step. */
  imports: ICodeBlock[];
  /** `functions` cells, prepended to every step after the imports. */
  functions: ICodeBlock[];
  steps: IStep[];
  edges: IEdge[];
  parameters: IParameter[];
  metrics: IMetric[];
  diagnostics: IDiagnostic[];
}

/** True when the plan can be compiled: no error diagnostics. */
export function isCompilable(plan: IPlan): boolean {
  return !plan.diagnostics.some(d => d.severity === 'error');
}

/** The full code a step runs, in order: imports, functions, then the step's own cells. */
export function stepCode(plan: IPlan, step: IStep): ICodeBlock[] {
  return [...plan.imports, ...plan.functions, ...step.code];
}

/** A copy of the plan whose parameters take `values` (by name) as their values. */
export function planWithParameterValues(
  plan: IPlan,
  values: Readonly<Record<string, ParameterValue>>
): IPlan {
  return {
    ...plan,
    parameters: plan.parameters.map(p =>
      Object.prototype.hasOwnProperty.call(values, p.name) ? { ...p, value: values[p.name] } : p
    )
  };
}
