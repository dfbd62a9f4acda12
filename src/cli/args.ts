/** Command-line parsing shared by every `chard` command. */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { CompileError, parseParameterValue } from '../core/compile/index.js';
import type { IPlan, ParameterValue } from '../core/plan.js';
import { VALUE_DIGESTS } from '../core/stepspec.js';
import type { ValueDigest } from '../core/stepspec.js';
import { CommandError } from './notebookfile.js';

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

type Parsed<O extends CommandOptions> = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; options: O & typeof HELP }>
>;

/**
 * Parse a command's arguments (positionals allowed, `-h/--help` added). A malformed command
 * line is a usage error: exit code 2, with the command's usage.
 */
export function parseCommandArgs<O extends CommandOptions>(
  argv: string[],
  usage: string,
  options: O
): Parsed<O> {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: { ...options, ...HELP } });
  } catch (error) {
    throw new CommandError(
      `${error instanceof Error ? error.message : String(error)}\n${usage}`,
      2
    );
  }
}

/** `--value-digest sha256|crc32` (undefined when not given); another value is a usage error. */
export function valueDigestArg(text: string | undefined, usage?: string): ValueDigest | undefined {
  if (text === undefined) {
    return undefined;
  }
  if (!(VALUE_DIGESTS as readonly string[]).includes(text)) {
    throw new CommandError(
      `--value-digest ${JSON.stringify(text)}: give sha256 or crc32${usage ? `\n${usage}` : ''}`,
      2
    );
  }
  return text as ValueDigest;
}

/** `--param NAME=VALUE` items as [name, text] pairs; a malformed item is a usage error. */
export function splitParamArgs(items: readonly string[]): [string, string][] {
  return items.map(item => {
    const at = item.indexOf('=');
    if (at <= 0) {
      throw new CommandError(`--param expects NAME=VALUE, got ${JSON.stringify(item)}`, 2);
    }
    return [item.slice(0, at), item.slice(at + 1)];
  });
}

/**
 * `--param` values typed by the notebook's parameters (`int`, `float`, `str`, `bool`). An
 * unknown name or a value of the wrong type is a usage error.
 */
export function parameterOverrides(
  plan: IPlan,
  pairs: readonly [string, string][]
): Record<string, ParameterValue> {
  const out: Record<string, ParameterValue> = {};
  for (const [name, text] of pairs) {
    const parameter = plan.parameters.find(p => p.name === name);
    if (!parameter) {
      const names = plan.parameters.map(p => p.name).join(', ') || 'none';
      throw new CommandError(
        `--param ${name}: the notebook has no such parameter (its parameters: ${names})`,
        2
      );
    }
    try {
      out[name] = parseParameterValue(name, parameter.type, text);
    } catch (error) {
      if (error instanceof CompileError) {
        throw new CommandError(`--param ${error.message}`, 2);
      }
      throw error;
    }
  }
  return out;
}
