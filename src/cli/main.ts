/** The `chard` command: dispatches to one module per command. */
import { parseArgs } from 'node:util';
import { analyzeCommand } from './analyze.js';
import { clusterCancelCommand, clusterLogsCommand, clusterRunsCommand } from './cluster.js';
import { compileCommand } from './compile.js';
import { cancelCommand, logsCommand, outputsCommand, runsCommand } from './local.js';
import { CommandError } from './notebookfile.js';
import { runCommand } from './run.js';
import { submitCommand } from './submit.js';
import { commandError, runService } from './service.js';

export const USAGE = `usage: chard COMMAND [ARGS]

Commands:
  analyze NOTEBOOK [--json]               the pipeline plan: steps, data flow, parameters, problems
  compile NOTEBOOK --target argo|kfp      an Argo Workflow or a Kubeflow Pipelines v2 spec
  run NOTEBOOK                            run the pipeline on this machine
  submit NOTEBOOK [--via argo|kfp]        snapshot the workspace and run on Kubernetes
  runs [--all|--cluster]                  list runs (here, everywhere, or on the cluster)
  logs RUN [STEP]                         print a run's logs
  cancel RUN                              stop a run
  outputs RUN [PATH...] [--copy]          the files a run's steps wrote; copy them next to the notebook

Run \`chard COMMAND --help\` for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

/** Options that only make sense for cluster runs. */
const CLUSTER_FLAG = /^(--cluster|--namespace|-n|--context|--kubeconfig)(=.*)?$/;

/**
 * `runs`, `logs` and `cancel` serve local and cluster runs: `--cluster` (or a cluster option)
 * picks the cluster; so does a run id recorded as a cluster run in `.chard/runs` here.
 */
function routed(local: Command, cluster: Command, needsRun: boolean): Command {
  return async argv => {
    if (argv.some(a => CLUSTER_FLAG.test(a))) {
      return cluster(argv.filter(a => a !== '--cluster'));
    }
    if (needsRun) {
      const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
      const run = positionals[0];
      if (typeof run === 'string' && (await isClusterRun(run))) {
        return cluster(argv);
      }
    }
    return local(argv);
  };
}

/** Is `run` a cluster run the service knows (by id, from anywhere)? */
async function isClusterRun(run: string): Promise<boolean> {
  try {
    const backend = (await runService().get(run)).record.backend;
    return backend === 'argo' || backend === 'kfp';
  } catch {
    return false; // not a known run id: the local commands explain
  }
}

const COMMANDS: Record<string, Command> = {
  analyze: analyzeCommand,
  compile: compileCommand,
  run: runCommand,
  submit: submitCommand,
  runs: routed(runsCommand, clusterRunsCommand, false),
  logs: routed(logsCommand, clusterLogsCommand, true),
  cancel: routed(cancelCommand, clusterCancelCommand, true),
  outputs: outputsCommand
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
  } catch (thrown) {
    const error = commandError(thrown);
    if (error instanceof CommandError) {
      process.stderr.write(`chard: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}
