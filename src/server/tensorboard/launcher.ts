/**
 * The command line that runs TensorBoard for the backend: `python -c LAUNCHER BACKEND_PID ARGS...`.
 *
 * The launcher (src/runtime/tensorboard_launcher.py, joined with lifetime.py by the build) ties
 * TensorBoard's lifetime to the backend's with the lifetime code the local runner's steps use:
 * `prctl(PR_SET_PDEATHSIG, SIGKILL)` on Linux, and a watchdog forked into TensorBoard's process
 * group that SIGKILLs the group once TensorBoard or the backend is gone. The backend in turn exits
 * when the Jupyter server does (its standard input closes), so TensorBoard never outlives the
 * Jupyter server, even one killed with SIGKILL. TensorBoard then runs in the same interpreter
 * (`tensorboard.main.run_main`), so the tie holds for the process that serves.
 */
import { TENSORBOARD_LAUNCHER_SOURCE } from '../generated/local.js';

/** Exit code of the launcher when `import tensorboard` fails (NOT_INSTALLED in the launcher). */
export const NOT_INSTALLED_EXIT = 3;

/** The interpreter arguments that run TensorBoard with `args`, tied to this process. */
export function tensorBoardArgs(args: readonly string[]): string[] {
  return ['-c', TENSORBOARD_LAUNCHER_SOURCE, String(process.pid), ...args];
}
