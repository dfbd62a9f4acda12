/**
 * The command line of a step process: `python -c LAUNCHER RUNNER_PID RUN_DIR --spec SPEC`.
 *
 * The launcher starts the step runtime (`RUN_DIR/chard_runtime.py`) as an imported module rather
 * than as a script, so Python caches its compiled form (`__pycache__` in the run directory) and
 * each step skips recompiling it.
 *
 * It also ties the step's lifetime to the runner's, so a runner killed with SIGKILL (which cannot
 * stop its steps) leaves nothing running:
 * - on Linux, `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills the step process the moment
 *   the runner exits (checked against a runner that died before the call);
 * - a watchdog, forked into the step's process group before any notebook code runs, polls every
 *   0.2 s and SIGKILLs the whole group (what the step started included) once the step process
 *   or the runner is gone. It holds no output pipe and dies with the group when the runner stops
 *   a step the usual way. It is only started when the step leads its own process group (as
 *   `startGroupProcess` arranges), so it can never signal the caller's group.
 * Together they add about 8 ms to a step's start (ctypes and a fork).
 *
 * The code is constant (src/runtime/launcher.py and lifetime.py, embedded by the build): the runner
 * pid, run directory and spec travel as argv data.
 */
import { LAUNCHER_SOURCE } from '../generated/local.js';

/** The interpreter arguments that run one step of the run in `runDir`. */
export function launcherArgs(runDir: string, specFile: string): string[] {
  return ['-c', LAUNCHER_SOURCE, String(process.pid), runDir, '--spec', specFile];
}
