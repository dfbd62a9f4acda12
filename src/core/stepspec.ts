/**
 * The step spec: everything the Python step runtime (`runtime/chard_runtime.py`) needs to run
 * one step, as JSON data. Every target (Argo, KFP, the local runner) hands the runtime a step
 * spec; cell code, names and parameter values travel only inside it, never in a command line
 * or in generated Python source.
 *
 * Runtime command line (all arguments are data; no shell is involved):
 *
 *   python3 chard_runtime.py --spec FILE | --spec-json JSON
 *       [--data-dir DIR]            root of the marshalled values (default: spec.dataDir)
 *       [--workdir DIR]             working directory for the cells (default: spec.workdir)
 *       [--param NAME=VALUE]...     override a pipeline parameter (VALUE parsed by its type)
 *       [--input NAME=DIR]...       read input NAME from DIR instead of the data-dir layout
 *       [--output NAME=DIR]...      write output NAME into DIR instead of the data-dir layout
 *       [--metrics-file FILE]       write recorded metrics as JSON here as well
 *
 * Data-dir layout: the value NAME produced by step ID lives in `DATA_DIR/ID/NAME/`, which holds
 * the value file and `manifest.json` ({name, type, backend, file, size, hash, sha256, chunks,
 * step}; module values carry `module` as well). `hash` names the integrity scheme, chosen by the
 * producing step's `valueDigest`:
 *   - "crc32-chunks-64MiB" (valueDigest "crc32", the default): a CRC-32 per 64 MiB chunk of the
 *     file in `chunks`, and `sha256` over that list joined by newlines;
 *   - "sha256" (valueDigest "sha256"): `sha256` is the sha256 of the whole value file (what
 *     `sha256sum` prints); no `chunks`.
 * A consumer verifies a value by the scheme its manifest names, whatever its own valueDigest.
 * Metrics of step ID are written to `DATA_DIR/ID/_metrics.json`.
 */
import type { ICodeBlock, IPlan, IStep, ParameterType, ParameterValue } from './plan.js';
import { stepCode } from './plan.js';

/**
 * How a step's saved values can be verified (the manifest's `hash`): "crc32", CRC-32 per 64 MiB
 * chunk (the default: cheap, checked by every core), or "sha256" of the whole file (what
 * `sha256sum` prints; one core hashes at each end, several times the cost of copying the file).
 */
export type ValueDigest = 'crc32' | 'sha256';
export const VALUE_DIGESTS: readonly ValueDigest[] = ['crc32', 'sha256'];
export const DEFAULT_VALUE_DIGEST: ValueDigest = 'crc32';

export interface IStepSpecInput {
  name: string;
  /** Producer step name. */
  from: string;
  /** Producer step id (DNS-1123): the directory under the data dir. */
  fromId: string;
}

export interface IStepSpec {
  version: 1;
  pipeline: string;
  step: string;
  stepId: string;
  /** imports + functions + the step's cells, in order, with their notebook cell index. */
  code: ICodeBlock[];
  /** The pipeline parameters this step reads, with their types and default values. */
  parameters: Record<string, { type: ParameterType; value: ParameterValue }>;
  inputs: IStepSpecInput[];
  outputs: string[];
  metrics: string[];
  /** Default data dir (overridable with --data-dir). */
  dataDir: string;
  /** Default working directory (overridable with --workdir); '' means the current directory. */
  workdir: string;
  /** The integrity scheme of the values this step saves; absent means "crc32". */
  valueDigest?: ValueDigest;
}

export interface IStepSpecOptions {
  dataDir: string;
  workdir: string;
  /** Default "crc32", which the spec leaves out (specs stay as they were before the option). */
  valueDigest?: ValueDigest;
}

/** Build the runtime's step spec for one step of a plan. */
export function buildStepSpec(plan: IPlan, step: IStep, options: IStepSpecOptions): IStepSpec {
  const idOf = new Map(plan.steps.map(s => [s.name, s.id]));
  const parameters: IStepSpec['parameters'] = {};
  for (const p of plan.parameters) {
    if (step.parameters.includes(p.name)) {
      parameters[p.name] = { type: p.type, value: p.value };
    }
  }
  return {
    version: 1,
    pipeline: plan.pipeline.name,
    step: step.name,
    stepId: step.id,
    code: stepCode(plan, step),
    parameters,
    inputs: step.inputs.map(name => {
      const from = step.inputSources[name];
      return { name, from, fromId: idOf.get(from) ?? from };
    }),
    outputs: [...step.outputs],
    metrics: [...step.metrics],
    dataDir: options.dataDir,
    workdir: options.workdir,
    ...(options.valueDigest === undefined || options.valueDigest === DEFAULT_VALUE_DIGEST
      ? {}
      : { valueDigest: options.valueDigest })
  };
}
