/**
 * `npm run bench -- api`: Chard's HTTP API through a real Jupyter server (the .venv of
 * scripts/setup-venv.sh, with the wheel installed there): analyze latency, how fast a step's state
 * change reaches a server-sent-events client, the backend's idle memory, JupyterLab's page load
 * with and without Chard (headless Chromium), and the example run through the API next to the
 * same notebook run straight through nbclient. Prints figures next to goals; asserts nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

const ROOT = process.cwd();
const VENV = process.env.CHARD_VENV ?? path.join(ROOT, '.venv');
const VENV_PYTHON = path.join(VENV, 'bin', 'python');
const CHROMIUM = '/usr/bin/chromium';
/** Rounds of the example, each side by side with nbclient (CHARD_BENCH_ROUNDS). */
const ROUNDS = Number(process.env.CHARD_BENCH_ROUNDS ?? 3);

interface IJupyter {
  url: string;
  token: string;
  root: string;
  proc: ChildProcess;
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function verdict(ok: boolean): string {
  return ok ? 'OK' : 'MISSED';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function sleep(msec: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, msec));
}

/** `jupyter lab` from the .venv on a free port, in its own config/runtime/state folders. */
async function startJupyter(dir: string, withChard: boolean): Promise<IJupyter> {
  const port = await freePort();
  const token = `bench-${Math.random().toString(16).slice(2)}`;
  const root = path.join(dir, 'root');
  fs.mkdirSync(root, { recursive: true });
  const args = [
    '-m',
    'jupyterlab',
    '--no-browser',
    '--ServerApp.ip=127.0.0.1',
    `--ServerApp.port=${port}`,
    '--ServerApp.port_retries=0',
    '--ServerApp.allow_root=True',
    `--ServerApp.root_dir=${root}`,
    `--IdentityProvider.token=${token}`
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_CONFIG_DIR: path.join(dir, 'config'),
    JUPYTER_RUNTIME_DIR: path.join(dir, 'runtime'),
    JUPYTERLAB_WORKSPACES_DIR: path.join(dir, 'workspaces'),
    JUPYTERLAB_SETTINGS_DIR: path.join(dir, 'settings'),
    CHARD_STATE_DIR: path.join(dir, 'state'),
    PATH: `${path.join(VENV, 'bin')}${path.delimiter}${process.env.PATH ?? ''}`
  };
  if (!withChard) {
    // The server extension and the labextension off, in this server's own config folder only.
    fs.mkdirSync(path.join(dir, 'config'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'config', 'jupyter_server_config.json'),
      JSON.stringify({ ServerApp: { jpserver_extensions: { jupyterlab_chard: false } } })
    );
    spawnSync(
      VENV_PYTHON,
      ['-m', 'jupyter', 'labextension', 'disable', '--level=user', 'jupyterlab-chard'],
      { env, encoding: 'utf8' }
    );
  }
  const log = fs.openSync(path.join(dir, 'server.log'), 'w');
  const proc = spawn(VENV_PYTHON, args, { env, cwd: dir, stdio: ['ignore', log, log] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      throw new Error(`Jupyter did not start; see ${path.join(dir, 'server.log')}`);
    }
    try {
      const probe = withChard ? '/chard/api/health' : '/api/status';
      const r = await fetch(`${url}${probe}`, { headers: { Authorization: `token ${token}` } });
      if (r.ok) {
        break;
      }
    } catch {
      // not yet
    }
    await sleep(100);
  }
  return { url, token, root, proc };
}

async function stopJupyter(jupyter: IJupyter): Promise<void> {
  if (jupyter.proc.exitCode === null) {
    const exited = new Promise(resolve => jupyter.proc.once('exit', resolve));
    jupyter.proc.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
  }
}

async function api(jupyter: IJupyter, method: string, endpoint: string, body?: unknown) {
  const r = await fetch(`${jupyter.url}/chard/api/${endpoint}`, {
    method,
    headers: { Authorization: `token ${jupyter.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  });
  const json = (await r.json()) as Record<string, unknown>;
  if (!r.ok) {
    throw new Error(`${method} ${endpoint}: ${r.status} ${JSON.stringify(json)}`);
  }
  return json;
}

interface IReceived {
  envelope: { seq: number; event: { event: string; time: string; step?: string } };
  at: number;
}

/** Follows a run's events through Jupyter to the end, noting when each arrived. */
async function follow(jupyter: IJupyter, id: string): Promise<IReceived[]> {
  const r = await fetch(`${jupyter.url}/chard/api/runs/${id}/events`, {
    headers: { Authorization: `token ${jupyter.token}`, Accept: 'text/event-stream' }
  });
  if (!r.ok || !r.body) {
    throw new Error(`events: ${r.status}`);
  }
  const got: IReceived[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
    const at = Date.now();
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').find(l => l.startsWith('data: '));
      if (data) {
        got.push({ envelope: JSON.parse(data.slice(6)) as IReceived['envelope'], at });
      }
    }
  }
  return got;
}

function notebook(cells: [string[], string][]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
    cells: cells.map(([tags, source]) => ({
      cell_type: 'code',
      metadata: { tags },
      source,
      outputs: [],
      execution_count: null
    }))
  });
}

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 'NaN');
  return kb / 1024;
}

function parentOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

async function benchAnalyze(jupyter: IJupyter): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 220; i++) {
    const start = process.hrtime.bigint();
    await api(jupyter, 'POST', 'analyze', { path: 'churn/churn.ipynb' });
    if (i >= 20) {
      times.push(ms(start));
    }
  }
  const p50 = percentile(times, 50);
  const p99 = percentile(times, 99);
  console.log(
    `analyze of the example through Jupyter (200 requests): p50 ${p50.toFixed(1)} ms (goal <= 20) ${verdict(p50 <= 20)}, p99 ${p99.toFixed(1)} ms (goal <= 100) ${verdict(p99 <= 100)}`
  );
}

async function benchEvents(jupyter: IJupyter): Promise<void> {
  fs.writeFileSync(
    path.join(jupyter.root, 'ticks.ipynb'),
    notebook([
      [['imports'], 'import time'],
      [['step:a'], 'time.sleep(0.3)\nx = 1'],
      [['step:b', 'prev:a'], 'time.sleep(0.3)\ny = x + 1'],
      [
        ['step:c', 'prev:b'],
        'for i in range(20):\n    print(i, flush=True)\n    time.sleep(0.05)\nz = y'
      ]
    ])
  );
  const run = (await api(jupyter, 'POST', 'runs', {
    notebook: 'ticks.ipynb',
    target: 'local',
    local: { python: VENV_PYTHON }
  })) as { record: { id: string } };
  const got = await follow(jupyter, run.record.id);
  const states = got.filter(g => /^(step|run)-(started|finished)$/.test(g.envelope.event.event));
  const lags = states.map(g => g.at - Date.parse(g.envelope.event.time));
  const logs = got.filter(g => g.envelope.event.event === 'log');
  const logLags = logs.map(g => g.at - Date.parse(g.envelope.event.time));
  console.log(
    `a step's state change reaching an SSE client through Jupyter (from the event's time, ${lags.length} changes): median ${percentile(lags, 50)} ms, max ${Math.max(...lags)} ms (goal <= 200) ${verdict(Math.max(...lags) <= 200)}`
  );
  if (logLags.length > 0) {
    console.log(
      `  log lines (${logLags.length}): median ${percentile(logLags, 50)} ms, max ${Math.max(...logLags)} ms`
    );
  }
}

/** One round: the notebook restarted and run all through nbclient, then "run" through the API. */
async function exampleRound(
  jupyter: IJupyter,
  backendPid: number
): Promise<{ straightMs: number; pipedMs: number } | null> {
  const dir = path.join(jupyter.root, 'churn');
  const script =
    'import sys, nbformat\nfrom nbclient import NotebookClient\n' +
    'nb = nbformat.read(sys.argv[1], as_version=4)\n' +
    'NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()\n';
  const straightStart = process.hrtime.bigint();
  const straight = spawnSync(VENV_PYTHON, ['-c', script, path.join(dir, 'churn.ipynb'), dir], {
    encoding: 'utf8'
  });
  const straightMs = ms(straightStart);
  if (straight.status !== 0) {
    console.log(`  nbclient failed: ${straight.stderr.trim().split('\n').pop() ?? ''}`);
    return null;
  }
  const start = Date.now();
  const run = (await api(jupyter, 'POST', 'runs', {
    notebook: 'churn/churn.ipynb',
    target: 'local',
    local: { python: VENV_PYTHON }
  })) as { record: { id: string } };
  const answered = Date.now() - start;
  // Which steps were forked from the warm interpreter: their parent is not the backend.
  const parents = new Map<string, number | null>();
  const watch = setInterval(() => {
    void api(jupyter, 'GET', `runs/${run.record.id}`).then(d => {
      const pids = (d.record as { pids?: { steps: Record<string, number> } }).pids;
      for (const [step, pid] of Object.entries(pids?.steps ?? {})) {
        if (!parents.has(step)) {
          parents.set(step, parentOf(pid));
        }
      }
    });
  }, 20);
  const got = await follow(jupyter, run.record.id);
  clearInterval(watch);
  const lastStep = got.filter(g => g.envelope.event.event === 'step-finished').pop();
  const pipedMs = (lastStep?.at ?? Date.now()) - start;
  const status = got[got.length - 1]?.envelope.event as { status?: string } | undefined;
  const seen = [...parents.values()].filter(p => p !== null);
  const forked = seen.filter(p => p !== backendPid).length;
  const ratio = pipedMs / straightMs;
  console.log(
    `  restart kernel and run all (nbclient) ${(straightMs / 1000).toFixed(2)} s; "run" through the API to its last step (${status?.status ?? '?'}) ${(pipedMs / 1000).toFixed(2)} s = ${ratio.toFixed(2)}x; ${forked} of ${seen.length} steps seen forked from the warm interpreter`
  );
  console.log(`    where the time went: ${breakdown(got, start, answered)}`);
  return { straightMs, pipedMs };
}

/** The run's timeline from "run": the answer, run-started, each step's span, run-finished. */
function breakdown(got: IReceived[], start: number, answered: number): string {
  const at = (g: IReceived | undefined): string =>
    g ? `${((g.at - start) / 1000).toFixed(2)}` : '?';
  const parts = [`answer ${(answered / 1000).toFixed(2)}`];
  parts.push(`run-started ${at(got.find(g => g.envelope.event.event === 'run-started'))}`);
  const started = new Map<string, number>();
  for (const g of got) {
    const e = g.envelope.event;
    if (e.event === 'step-started' && e.step) {
      started.set(e.step, g.at);
    } else if (e.event === 'step-finished' && e.step) {
      const from = started.get(e.step) ?? start;
      parts.push(
        `${e.step} ${((from - start) / 1000).toFixed(2)}-${at(g)} (${((g.at - from) / 1000).toFixed(2)})`
      );
    }
  }
  parts.push(`run-finished ${at(got.find(g => g.envelope.event.event === 'run-finished'))} s`);
  return parts.join(', ');
}

async function benchExample(jupyter: IJupyter): Promise<void> {
  const health = (await api(jupyter, 'GET', 'health')) as { pid: number };
  // What JupyterLab does when it shows the notebook (its pipeline runs on this machine): the
  // backend warms the notebook's interpreter. The user then clicks "run".
  const warmStart = Date.now();
  const warm = (await api(jupyter, 'POST', 'runs/prepare', {
    notebook: 'churn/churn.ipynb',
    target: 'local',
    local: { python: VENV_PYTHON }
  })) as { ready?: boolean; preloaded?: string[] };
  console.log(
    `example: the interpreter warmed when the notebook is shown (before "run"): ${warm.ready === true ? 'ready' : 'NOT ready'} in ${((Date.now() - warmStart) / 1000).toFixed(2)} s (${(warm.preloaded ?? []).join(', ')})`
  );
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const result = await exampleRound(jupyter, health.pid);
    if (result) {
      ratios.push(result.pipedMs / result.straightMs);
    }
  }
  if (ratios.length === 0) {
    return;
  }
  const worst = Math.max(...ratios);
  console.log(
    `example, "run" to its last step / restart and run all (nbclient), side by side, ${ratios.length} rounds: ${Math.min(...ratios).toFixed(2)}x-${worst.toFixed(2)}x, median ${percentile(ratios, 50).toFixed(2)}x (goal <= 0.7x) ${verdict(percentile(ratios, 50) <= 0.7)}${worst > 0.7 ? ' (not in every round)' : ''}`
  );
}

async function pageLoad(jupyter: IJupyter, browser: Browser): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const page = await browser.newPage();
    const start = process.hrtime.bigint();
    await page.goto(`${jupyter.url}/lab?token=${jupyter.token}`, { waitUntil: 'load' });
    await page.waitForSelector('.jp-LabShell', { timeout: 60_000 });
    await page.waitForSelector('#jupyterlab-splash', { state: 'detached', timeout: 60_000 });
    if (i > 0) {
      times.push(ms(start));
    }
    await page.close();
  }
  return times;
}

async function benchLoad(dir: string, withChard: IJupyter): Promise<void> {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`JupyterLab load time: skipped (${CHROMIUM} missing)`);
    return;
  }
  const without = await startJupyter(path.join(dir, 'without'), false);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const a = await pageLoad(withChard, browser);
    const b = await pageLoad(without, browser);
    const withMs = percentile(a, 50);
    const withoutMs = percentile(b, 50);
    console.log(
      `JupyterLab load (median of ${a.length}, to the splash gone): with Chard ${withMs.toFixed(0)} ms, without ${withoutMs.toFixed(0)} ms, +${(withMs - withoutMs).toFixed(0)} ms (goal <= 100) ${verdict(withMs - withoutMs <= 100)}`
    );
  } finally {
    await browser.close();
    await stopJupyter(without);
  }
}

export async function run(): Promise<void> {
  if (!fs.existsSync(VENV_PYTHON)) {
    console.log(
      `needs the virtualenv ${VENV} with JupyterLab and Chard's wheel: bash scripts/setup-venv.sh`
    );
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-bench-api-'));
  const jupyter = await startJupyter(path.join(dir, 'with'), true);
  try {
    fs.mkdirSync(path.join(jupyter.root, 'churn'));
    for (const file of ['churn.ipynb', 'customers.csv']) {
      fs.copyFileSync(
        path.join(ROOT, 'examples', 'churn', file),
        path.join(jupyter.root, 'churn', file)
      );
    }
    const health = (await api(jupyter, 'GET', 'health')) as { pid: number };
    await sleep(2000);
    const idle = rssMiB(health.pid);
    console.log(`backend idle RSS: ${idle.toFixed(0)} MiB (goal <= 150) ${verdict(idle <= 150)}`);
    await benchAnalyze(jupyter);
    await benchEvents(jupyter);
    await benchExample(jupyter);
    console.log(`  backend RSS after these: ${rssMiB(health.pid).toFixed(0)} MiB`);
    await benchLoad(dir, jupyter);
  } finally {
    await stopJupyter(jupyter);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
