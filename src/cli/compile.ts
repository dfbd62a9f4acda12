/**
 * `chard compile NOTEBOOK --target argo|kfp [-o FILE] [--image IMG] [--param NAME=VALUE]...
 *  [--value-digest sha256|crc32]`
 * and `chard compile NOTEBOOK --show-step NAME`: the notebook's pipeline as an Argo Workflow or
 * a Kubeflow Pipelines v2 spec (YAML on stdout, or written atomically to FILE), or the exact
 * code one step runs.
 */
import { resolve } from 'node:path';
import {
  COMPILE_TARGETS,
  CompileError,
  compilePlan,
  stepCodeListing
} from '../core/compile/index.js';
import type { CompileTarget, ICompileResult } from '../core/compile/index.js';
import { isCompilable } from '../core/plan.js';
import { workflowSchemaProblem, writeFileAtomic } from '../server/index.js';
import { parameterOverrides, parseCommandArgs, splitParamArgs, valueDigestArg } from './args.js';
import { CommandError, formatDiagnostic } from './notebookfile.js';
import { runService, viaService } from './service.js';

export const COMPILE_USAGE = `usage: chard compile NOTEBOOK --target argo|kfp [-o FILE] [--image IMG] [--param NAME=VALUE]...
                     [--value-digest sha256|crc32]
       chard compile NOTEBOOK --show-step NAME

Compile a notebook into a pipeline: an Argo Workflow (--target argo) or a Kubeflow Pipelines v2
pipeline spec (--target kfp). The same notebook always gives the same bytes.
  --target T         argo or kfp
  -o, --output FILE  write the manifest to FILE (atomically) instead of stdout
  --image IMG        image for steps without an image: tag (overrides the notebook's setting)
  --param NAME=VAL   change a pipeline parameter's default (repeatable)
  --value-digest D   how the values passed between steps are verified: crc32 (default), or
                     sha256 of each value file, checkable with sha256sum but slower (overrides
                     the notebook's chard.valueDigest)
  --show-step NAME   print the exact code the step NAME (name or id) runs, and stop`;

export async function compileCommand(argv: string[]): Promise<number> {
  try {
    return await Private.run(argv);
  } catch (error) {
    if (error instanceof CommandError) {
      process.stderr.write(`chard: ${error.message}\n`);
      return error.exitCode;
    }
    if (error instanceof CompileError) {
      process.stderr.write(`chard: compile: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

namespace Private {
  export async function run(argv: string[]): Promise<number> {
    const parsed = parseCommandArgs(argv, COMPILE_USAGE, {
      target: { type: 'string' },
      output: { type: 'string', short: 'o' },
      image: { type: 'string' },
      param: { type: 'string', multiple: true },
      'show-step': { type: 'string' },
      'value-digest': { type: 'string' }
    });
    const values = parsed.values;
    if (values.help) {
      process.stdout.write(`${COMPILE_USAGE}\n`);
      return 0;
    }
    if (parsed.positionals.length !== 1) {
      throw new CommandError(COMPILE_USAGE, 2);
    }
    const showStep = values['show-step'];
    const target = values.target;
    if (showStep === undefined) {
      if (target === undefined) {
        throw new CommandError(`--target argo|kfp is required\n${COMPILE_USAGE}`, 2);
      }
      if (!(COMPILE_TARGETS as readonly string[]).includes(target)) {
        throw new CommandError(
          `unknown target ${JSON.stringify(target)}; use argo or kfp\n${COMPILE_USAGE}`,
          2
        );
      }
    }
    const rawParams = splitParamArgs(values.param ?? []);
    const valueDigest = valueDigestArg(values['value-digest'], COMPILE_USAGE);

    const file = parsed.positionals[0];
    const plan = await viaService(() => runService().analyze(file));
    for (const d of plan.diagnostics) {
      process.stderr.write(`${formatDiagnostic(file, d)}\n`);
    }
    if (!isCompilable(plan)) {
      return 1;
    }
    const parameters = parameterOverrides(plan, rawParams);
    if (showStep !== undefined) {
      process.stdout.write(stepCodeListing(plan, showStep, { parameters }));
      return 0;
    }

    const result = compilePlan(plan, target as CompileTarget, {
      parameters,
      ...(values.image === undefined ? {} : { image: values.image }),
      ...(valueDigest === undefined ? {} : { valueDigest })
    });
    check(result);
    for (const warning of result.warnings) {
      process.stderr.write(`chard: warning: ${warning}\n`);
    }
    if (values.output === undefined) {
      process.stdout.write(result.text);
    } else {
      try {
        await writeFileAtomic(resolve(values.output), result.text);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        throw new CommandError(`${values.output}: cannot write the manifest (${code})`);
      }
      process.stderr.write(`chard: wrote ${values.output} (sha256 ${result.hash})\n`);
    }
    return 0;
  }

  /** Every Workflow Chard writes validates against Argo's schema; anything else is a bug. */
  function check(result: ICompileResult): void {
    if (result.target !== 'argo') {
      return;
    }
    const problem = workflowSchemaProblem(result.documents[0]);
    if (problem !== null) {
      throw new CommandError(
        `internal error: the generated Workflow does not match Argo's schema (${problem}); ` +
          'please report this'
      );
    }
  }
}
