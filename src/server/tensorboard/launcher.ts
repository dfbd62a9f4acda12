/**
 * The command line that runs TensorBoard for the backend: `python -c LAUNCHER BACKEND_PID ARGS...`.
 *
 * The launcher ties TensorBoard's lifetime to the backend's with the lifetime code the local
 * runner's steps use (`LIFETIME_SOURCE`): `prctl(PR_SET_PDEATHSIG, SIGKILL)` on Linux, and a
 * watchdog forked into TensorBoard's process group that SIGKILLs the group once TensorBoard or
 * the backend is gone. The backend in turn exits when the Jupyter server does (its standard input
 * closes), so TensorBoard never outlives the Jupyter server, even one killed with SIGKILL.
 * TensorBoard then runs in this same interpreter (`tensorboard.main.run_main`), so the tie holds
 * for the process that serves.
 */
import { LIFETIME_SOURCE } from '../local/launcher.js';

/** Exit code of the launcher when `import tensorboard` fails. */
export const NOT_INSTALLED_EXIT = 3;

const LAUNCHER = `${LIFETIME_SOURCE}
parent, me = int(sys.argv[1]), os.getpid()
tie_to_parent()
if os.getppid() != parent:
    sys.exit(1)  # the backend is already gone
if os.getpgid(0) == me and os.fork() == 0:  # only as the leader of its own group
    watch(me, parent)
try:
    from tensorboard.main import run_main
except ImportError as error:
    sys.stderr.write("chard: cannot import tensorboard: %s\\n" % error)
    sys.exit(${NOT_INSTALLED_EXIT})
sys.argv = ["tensorboard"] + sys.argv[2:]
run_main()
`;

/** The interpreter arguments that run TensorBoard with `args`, tied to this process. */
export function tensorBoardArgs(args: readonly string[]): string[] {
  return ['-c', LAUNCHER, String(process.pid), ...args];
}
