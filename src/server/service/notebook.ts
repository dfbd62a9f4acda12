/** Reading and analysing a notebook for the run service, with one-line errors naming the file. */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';

import { NotebookError, parseNotebook } from '../../core/notebook.js';
import type { INotebook } from '../../core/notebook.js';
import { CompileError, parseParameterValue } from '../../core/compile/index.js';
import type { IPlan, ParameterValue } from '../../core/plan.js';
import { analyzeNotebookInParallel } from '../analysis/pool.js';
import { ServiceError } from './errors.js';

/** Read and parse a notebook; every failure is a ServiceError naming the file. */
export async function readNotebookFile(file: string): Promise<INotebook> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : String(code ?? error);
    throw new ServiceError(`${file}: cannot read the notebook (${reason})`);
  }
  try {
    return parseNotebook(text, file);
  } catch (error) {
    if (error instanceof NotebookError) {
      throw new ServiceError(error.message);
    }
    throw error;
  }
}

export interface IAnalysed {
  notebook: INotebook;
  plan: IPlan;
}

/** A notebook's plan (`noInfer`: steps ordered by `prev:` tags only, as Kale does). */
export async function analyzeFile(
  file: string,
  options: { noInfer?: boolean; fileName?: string } = {}
): Promise<IAnalysed> {
  const notebook = await readNotebookFile(file);
  const plan = await analyzeNotebookInParallel(notebook, {
    fileName: options.fileName ?? path.basename(file),
    ...(options.noInfer ? { inferDependencies: false } : {})
  });
  return { notebook, plan };
}

/**
 * Parameter values typed by the notebook's parameters (`int`, `float`, `str`, `bool`): typed
 * values, or text as typed on a command line. An unknown name or a value of the wrong type is
 * a usage error.
 */
export function parameterValues(
  plan: IPlan,
  given: Record<string, ParameterValue>
): Record<string, ParameterValue> {
  const out: Record<string, ParameterValue> = {};
  for (const [name, value] of Object.entries(given)) {
    const parameter = plan.parameters.find(p => p.name === name);
    if (!parameter) {
      const names = plan.parameters.map(p => p.name).join(', ') || 'none';
      throw new ServiceError(
        `--param ${name}: the notebook has no such parameter (its parameters: ${names})`,
        true
      );
    }
    try {
      out[name] = parseParameterValue(name, parameter.type, value);
    } catch (error) {
      if (error instanceof CompileError) {
        throw new ServiceError(`--param ${error.message}`, true);
      }
      throw error;
    }
  }
  return out;
}
