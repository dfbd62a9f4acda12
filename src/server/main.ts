/**
 * The Chard backend process: the HTTP API on a Unix socket (or a loopback port), started and
 * supervised by the Jupyter server extension (jupyterlab_chard). Configured by environment only,
 * so that the secret never shows on a command line:
 *   CHARD_BACKEND_SECRET       the secret every request must carry (required; removed from the
 *                              environment once read, so child processes do not inherit it)
 *   CHARD_ROOT_DIR             the Jupyter server's root directory (required)
 *   CHARD_BACKEND_SOCKET       the Unix socket to listen on (made 0600), or
 *   CHARD_BACKEND_PORT         a port on 127.0.0.1 (0: any free port)
 *   CHARD_EXIT_ON_STDIN_EOF=1  exit when standard input closes (the parent died)
 *   CHARD_BASE_URL             the Jupyter server's base URL (default /): TensorBoard's path prefix
 *   CHARD_TENSORBOARD_PYTHON   the Python that has `tensorboard` (default python3 on PATH)
 *   CHARD_TENSORBOARD_IDLE_SECONDS  stop a TensorBoard no request reached for this long (900)
 * Once listening it prints one JSON line on stdout: {"listening": {"socket": ...} | {"port": N}}.
 */
import { chmod, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { isMainThread } from 'node:worker_threads';
import { CellAnalysisPool } from './analysis/pool.js';
import { apiRoutes, createApiServer, tensorBoardRoutes } from './http/index.js';
import { createKubeClient } from './kube/client.js';
import { loadClusterConfig } from './kube/config.js';
import {
  ClusterTensorBoards,
  LocalTensorBoards,
  servesTensorboards,
  TensorBoardService
} from './tensorboard/index.js';
import { createRunService } from './service/service.js';
import { runPaths } from './common/records.js';
import { runLogDirs } from './tensorboard/logdirs.js';

/**
 * Set by scripts/build-backend.mjs in the bundled backend (undefined when run from lib/). The
 * bundle is one file: its analysis worker threads start the same file (see the end).
 */
declare const CHARD_BUNDLE: { version: string } | undefined;

interface IBackendConfig {
  secret: string;
  rootDir: string;
  listen: { socket: string } | { port: number };
  exitOnStdinEof: boolean;
  baseUrl: string;
  tensorBoardPython: string;
  tensorBoardIdleSeconds: number;
}

function fail(message: string): never {
  process.stderr.write(`chard backend: ${message}\n`);
  process.exit(2);
}

function readConfig(env: NodeJS.ProcessEnv): IBackendConfig {
  const secret = env.CHARD_BACKEND_SECRET;
  delete env.CHARD_BACKEND_SECRET;
  if (!secret) {
    fail('CHARD_BACKEND_SECRET is not set');
  }
  const rootDir = env.CHARD_ROOT_DIR;
  if (!rootDir) {
    fail('CHARD_ROOT_DIR is not set');
  }
  let listen: IBackendConfig['listen'];
  if (env.CHARD_BACKEND_SOCKET) {
    listen = { socket: env.CHARD_BACKEND_SOCKET };
  } else if (env.CHARD_BACKEND_PORT !== undefined && /^\d+$/.test(env.CHARD_BACKEND_PORT)) {
    listen = { port: Number(env.CHARD_BACKEND_PORT) };
  } else {
    fail('set CHARD_BACKEND_SOCKET (a path) or CHARD_BACKEND_PORT (a number)');
  }
  const idle = Number(env.CHARD_TENSORBOARD_IDLE_SECONDS ?? '900');
  return {
    secret,
    rootDir,
    listen,
    exitOnStdinEof: env.CHARD_EXIT_ON_STDIN_EOF === '1',
    baseUrl: env.CHARD_BASE_URL || '/',
    tensorBoardPython: env.CHARD_TENSORBOARD_PYTHON || 'python3',
    tensorBoardIdleSeconds: Number.isFinite(idle) && idle > 0 ? idle : 900
  };
}

async function main(): Promise<void> {
  const config = readConfig(process.env);
  const bundled = typeof CHARD_BUNDLE !== 'undefined' ? CHARD_BUNDLE : undefined;
  const analysis = new CellAnalysisPool(bundled ? { workerUrl: new URL(import.meta.url) } : {});
  const counters = { requests: 0 };
  const tensorboards = new LocalTensorBoards({
    python: config.tensorBoardPython,
    pathPrefix: `${config.baseUrl.replace(/\/+$/, '')}/chard/tensorboard`,
    idleTimeoutMs: config.tensorBoardIdleSeconds * 1000,
    log: message => process.stderr.write(`${message}\n`)
  });
  const service = createRunService({
    root: config.rootDir,
    warmInterpreters: {},
    // A local run that wrote event files: its TensorBoard is started before anyone asks.
    onRunFinished: ({ dir, record }) => {
      if (record.backend === 'local' && record.status !== 'cancelled') {
        void runLogDirs([{ name: record.id, workspace: runPaths(dir).workspace }])
          .then(logdirs => tensorboards.prestart(logdirs))
          .catch(() => undefined);
      }
    }
  });
  // Runs whose runner died with an earlier backend are settled before anyone asks.
  await service
    .recover()
    .catch((error: unknown) =>
      process.stderr.write(
        `chard backend: recovering runs failed: ${error instanceof Error ? error.message : String(error)}\n`
      )
    );
  const server = createApiServer({
    secret: config.secret,
    counters,
    routes: [
      ...apiRoutes({
        rootDir: config.rootDir,
        version: bundled?.version ?? process.env.npm_package_version ?? 'dev',
        analysis,
        startedAt: Date.now(),
        counters,
        service
      }),
      ...tensorBoardRoutes({
        rootDir: config.rootDir,
        service: new TensorBoardService({
          rootDir: config.rootDir,
          local: tensorboards,
          cluster: async () => {
            const cluster = loadClusterConfig();
            const client = createKubeClient(cluster.kubeConfig, cluster.namespace);
            const served = () => servesTensorboards(cluster.kubeConfig);
            return {
              client,
              boards: new ClusterTensorBoards({ client, served }),
              podName: cluster.podName
            };
          }
        })
      })
    ]
  });
  const stop = (code: number): void => {
    void tensorboards.stopAll();
    void service.close();
    server.close();
    server.closeAllConnections();
    if ('socket' in config.listen) {
      void rm(config.listen.socket, { force: true }).finally(() => process.exit(code));
    } else {
      process.exit(code);
    }
    setTimeout(() => process.exit(code), 1000).unref();
  };
  process.on('SIGTERM', () => stop(0));
  // Supervised, Ctrl-C in the terminal is the Jupyter server's to handle (it asks, then stops us).
  process.on('SIGINT', () => (config.exitOnStdinEof ? undefined : stop(0)));
  if (config.exitOnStdinEof) {
    process.stdin.on('end', () => stop(0));
    process.stdin.on('close', () => stop(0));
    process.stdin.resume();
  }
  if ('socket' in config.listen) {
    const socket = config.listen.socket;
    await rm(socket, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, resolve);
    });
    await chmod(socket, 0o600);
    process.stdout.write(`${JSON.stringify({ listening: { socket } })}\n`);
  } else {
    const port = config.listen.port;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    const address = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ listening: { port: address.port } })}\n`);
  }
}

if (isMainThread) {
  main().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
} else {
  // An analysis worker thread of the bundled backend.
  await import('./analysis/worker.js');
}
