/**
 * Per-step facts both targets derive the same way: the plan is compilable and consistent, the
 * image a step runs in, and its parents as step ids.
 */
import type { IPlan, IStep } from '../plan.js';
import { isCompilable } from '../plan.js';
import { thirdPartyModules } from '../python/imports.js';
import { utf8Encode } from './hash.js';
import { isDnsLabel } from './names.js';
import { CompileError, checkImage } from './options.js';
import type { ISettings } from './options.js';

/** Refuse plans with error diagnostics or broken invariants (ids, parents, producers). */
export function checkPlan(plan: IPlan): void {
  if (!isCompilable(plan)) {
    const count = plan.diagnostics.filter(d => d.severity === 'error').length;
    throw new CompileError(
      `the notebook has ${count} error${count === 1 ? '' : 's'}; fix ${count === 1 ? 'it' : 'them'} before compiling`
    );
  }
  if (plan.steps.length === 0) {
    throw new CompileError('the notebook has no steps to compile');
  }
  if (!isDnsLabel(plan.pipeline.id)) {
    throw new CompileError(
      `pipeline id ${JSON.stringify(plan.pipeline.id)} is not a Kubernetes name (DNS-1123 label)`
    );
  }
  const names = new Set<string>();
  const ids = new Set<string>();
  for (const step of plan.steps) {
    if (!isDnsLabel(step.id)) {
      throw new CompileError(
        `step ${JSON.stringify(step.name)}: id ${JSON.stringify(step.id)} is not a Kubernetes name`
      );
    }
    if (ids.has(step.id) || names.has(step.name)) {
      throw new CompileError(`step ${JSON.stringify(step.name)} appears twice in the plan`);
    }
    ids.add(step.id);
    names.add(step.name);
  }
  const known = new Set(plan.steps.map(s => s.name));
  for (const step of plan.steps) {
    for (const parent of step.parents) {
      if (!known.has(parent)) {
        throw new CompileError(
          `step ${JSON.stringify(step.name)} depends on unknown step ${JSON.stringify(parent)}`
        );
      }
    }
    for (const input of step.inputs) {
      const from = step.inputSources[input];
      if (from === undefined || !known.has(from)) {
        throw new CompileError(
          `step ${JSON.stringify(step.name)}: no producing step for input ${JSON.stringify(input)}`
        );
      }
    }
  }
}

/** The image a step runs in: its `image:` tag, the pipeline's, the notebook server's, the default. */
export function stepImage(plan: IPlan, step: IStep, settings: ISettings): string {
  return step.image === undefined
    ? pipelineImage(plan, settings)
    : checkImage(step.image, `step ${JSON.stringify(step.name)}: image`);
}

/** The image of steps without an `image:` tag: `--image`, the notebook's, the server's, the default. */
export function pipelineImage(plan: IPlan, settings: ISettings): string {
  if (settings.image !== undefined) {
    return settings.image;
  }
  if (plan.pipeline.image !== undefined && plan.pipeline.image !== '') {
    return checkImage(plan.pipeline.image, 'notebook image setting');
  }
  return settings.notebookImage ?? settings.defaultImage;
}

/** Step name -> step id. */
export function idsByName(plan: IPlan): Map<string, string> {
  return new Map(plan.steps.map(s => [s.name, s.id]));
}

/** The step's parents as ids, in plan order, without duplicates. */
export function parentIds(plan: IPlan, step: IStep): string[] {
  const ids = idsByName(plan);
  return [...new Set(step.parents.map(p => ids.get(p) as string))];
}

/** A copy of the plan with the settings' parameter values (overrides applied). */
export function withParameters(plan: IPlan, settings: ISettings): IPlan {
  return { ...plan, parameters: settings.parameters };
}

/** Data files a cell names as a relative path in a string (`pd.read_csv("data.csv")`). */
const DATA_FILE =
  /["']((?![a-z]+:\/\/)[^"'\s/][^"'\s]*\.(?:csv|tsv|parquet|feather|json|jsonl|xlsx?|pkl|pickle|joblib|npy|npz|h5|hdf5|txt|zip|gz))["']/gi;

/**
 * What a user should hear before running a compiled pipeline in a cluster with the defaults:
 * steps left in the default image (only Python's standard library) while the notebook imports
 * other modules, and data files read by relative path while the notebook declares no volume.
 */
export function defaultsWarnings(plan: IPlan, settings: ISettings): string[] {
  const warnings: string[] = [];
  const image = pipelineImage(plan, settings);
  const bare = plan.steps.filter(s => s.image === undefined);
  if (image === settings.defaultImage && settings.image === undefined && bare.length > 0) {
    const modules = thirdPartyModules(plan);
    if (modules.length > 0) {
      warnings.push(
        `${bare.length === plan.steps.length ? 'the steps run' : `${bare.length} step(s) run`} ` +
          `in ${image}, the default image (no --image, no image in the notebook's metadata), ` +
          `which has only Python's standard library, while the notebook imports ` +
          `${modules.join(', ')}: give an image that has them with --image or the notebook's ` +
          '`chard.image` (chard submit from a notebook server in the cluster uses the ' +
          "server's own image)"
      );
    }
  }
  if (plan.pipeline.volumes.length === 0) {
    const files = new Set<string>();
    const texts = [
      ...[...plan.imports, ...plan.functions, ...plan.steps.flatMap(s => s.code)].map(
        b => b.source
      ),
      // A parameter such as DATA_FILE = "customers.csv".
      ...settings.parameters
        .filter(p => typeof p.value === 'string')
        .map(p => JSON.stringify(p.value))
    ];
    for (const text of texts) {
      for (const match of text.matchAll(DATA_FILE)) {
        files.add(match[1]);
      }
    }
    if (files.size > 0) {
      const list = [...files].sort();
      warnings.push(
        `the notebook reads ${list.slice(0, 5).join(', ')}${list.length > 5 ? ', ...' : ''} ` +
          'by a relative path but declares no volume, so the steps will not find them in the ' +
          "cluster: declare the notebook's volume (Kale's `volumes` metadata) or put the files " +
          'in the image'
      );
    }
  }
  return warnings;
}

/** What etcd stores at most in one object (a Workflow, or the Workflow KFP makes of a spec). */
export const OBJECT_LIMIT_BYTES = 1.5 * 1024 * 1024;

/** A warning when a manifest is larger than a Kubernetes object can be. */
export function sizeWarnings(text: string, what: string): string[] {
  const bytes = utf8Encode(text).length;
  return bytes > OBJECT_LIMIT_BYTES
    ? [
        `the ${what} is ${(bytes / 1024 / 1024).toFixed(1)} MiB, more than the 1.5 MiB a ` +
          'Kubernetes object can hold: the cluster will likely refuse it (fewer, larger steps ' +
          'make it smaller)'
      ]
    : [];
}
