/**
 * Compiling a plan into a runnable pipeline: `compilePlan(plan, 'argo' | 'kfp', options)`.
 * Each target is a pure function of the plan and the options; see argo.ts and kfp.ts.
 */
import type { IPlan, IStep } from '../plan.js';
import { buildStepSpec } from '../stepspec.js';
import { compileArgo } from './argo.js';
import { compileKfp } from './kfp.js';
import type { CompileTarget, ICompileOptions, ICompileResult } from './options.js';
import { CompileError, resolveSettings } from './options.js';
import { withParameters } from './steps.js';

export { compileArgo, ArgoNames, ArgoPaths } from './argo.js';
export type { ArgoWorkflow } from './argo.js';
export {
  compileKfp,
  KFP_DATA_DIR,
  KFP_METRICS_ARTIFACT,
  KFP_RUNTIME_ARTIFACT,
  KFP_RUNTIME_FILES,
  KFP_RUNTIME_TASK,
  KFP_SDK_VERSION
} from './kfp.js';
export * from './options.js';
export { sha256Hex, base64Encode } from './hash.js';
export { BOOTSTRAP_SOURCE, PARAM_B64_PREFIX } from './payload.js';

export const COMPILE_TARGETS: readonly CompileTarget[] = ['argo', 'kfp'];

/** Compile a plan for a target. Throws `CompileError` with a one-line message on failure. */
export function compilePlan(
  plan: IPlan,
  target: CompileTarget,
  options: ICompileOptions = {}
): ICompileResult {
  switch (target) {
    case 'argo':
      return compileArgo(plan, options);
    case 'kfp':
      return compileKfp(plan, options);
  }
}

/** Find a step by its name or its id. */
export function findStep(plan: IPlan, nameOrId: string): IStep {
  const step = plan.steps.find(s => s.name === nameOrId) ?? plan.steps.find(s => s.id === nameOrId);
  if (!step) {
    const names = plan.steps.map(s => JSON.stringify(s.name)).join(', ') || 'none';
    throw new CompileError(`no step named ${JSON.stringify(nameOrId)} (steps: ${names})`);
  }
  return step;
}

/**
 * The exact code a step runs, as the runtime receives it in its step spec: the imports and
 * functions cells, then the step's cells, each preceded by a `# cell N` comment line
 * (N numbered from 1, as JupyterLab shows cells).
 */
export function stepCodeListing(
  plan: IPlan,
  nameOrId: string,
  options: ICompileOptions = {}
): string {
  const step = findStep(plan, nameOrId);
  const settings = resolveSettings(plan, options);
  const spec = buildStepSpec(withParameters(plan, settings), step, {
    dataDir: '',
    workdir: settings.workdir
  });
  return spec.code
    .map(
      block => `# cell ${block.cell + 1}\n${block.source}${block.source.endsWith('\n') ? '' : '\n'}`
    )
    .join('\n');
}
