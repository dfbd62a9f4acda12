/** The `chard` command: dispatches to one module per command. */
import { analyzeCommand } from './analyze.js';
import { CommandError } from './notebookfile.js';

export const USAGE = `usage: chard COMMAND [ARGS]

Commands:
  analyze NOTEBOOK [--json]        the pipeline plan of a notebook (steps, data flow, problems)

Run \`chard COMMAND --help\` for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  analyze: analyzeCommand
};

/** Run the CLI; returns the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`chard: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (error instanceof CommandError) {
      process.stderr.write(`chard: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
