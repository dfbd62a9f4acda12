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
 * The code is constant: the runner pid, run directory and spec travel as argv data.
 */
/**
 * Python shared by the launcher and the preloaded interpreter (zygote.ts): tying a step's life
 * to the runner's. Constant code; it defines functions and runs nothing.
 */
export const LIFETIME_SOURCE = `import os, sys


def tie_to_parent():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (ImportError, OSError, AttributeError):
        pass  # not Linux: the watchdog alone


def watch(parent, runner):
    """In a forked child of \`parent\`: SIGKILL this process group once \`parent\` or \`runner\` is gone."""
    import time
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        while os.getppid() == parent:
            os.kill(runner, 0)
            time.sleep(0.2)
    except OSError:
        pass
    os.killpg(0, 9)
    os._exit(0)
`;

const LAUNCHER = `${LIFETIME_SOURCE}
runner, launcher = int(sys.argv[1]), os.getpid()
tie_to_parent()
if os.getppid() != runner:
    sys.exit(1)  # the runner is already gone
if os.getpgid(0) == launcher and os.fork() == 0:  # only as the leader of its own group
    watch(launcher, runner)
sys.path.insert(0, sys.argv[2])
import chard_runtime
del sys.path[0]
sys.exit(chard_runtime.main(sys.argv[3:]))
`;

/** The interpreter arguments that run one step of the run in `runDir`. */
export function launcherArgs(runDir: string, specFile: string): string[] {
  return ['-c', LAUNCHER, String(process.pid), runDir, '--spec', specFile];
}
