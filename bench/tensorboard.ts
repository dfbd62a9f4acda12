/**
 * TensorBoard: the time from "Open TensorBoard" (the backend's `open`) to the first scalar series
 * answered by TensorBoard's data API, on the two runs of tests/fixtures/tensorboard/write_runs.py
 * (three TensorBoard runs, real event files), then to the first scalar chart drawn in Chromium.
 * Cold: TensorBoard is started and its page loaded in a new browser tab (goal <= 5 s on a 2-core
 * machine). Warm: TensorBoard is running and JupyterLab's page has shown it before (goal <= 1 s):
 * JupyterLab shows TensorBoard in an iframe of its own page, below its own origin, so a panel
 * opened again (or reloaded on a theme change) is a new iframe in a page whose renderer already
 * compiled TensorBoard's 1.9 MB of JavaScript; measured as such an iframe in a same-origin page.
 * For reference: a running TensorBoard in a new browser tab (as after reloading JupyterLab), and
 * one started ahead as its run ended (LocalTensorBoards.prestart), shown in a new tab.
 * Uses the test virtualenv's Python (scripts/setup-venv.sh), which has tensorboard and
 * tensorboardX from PyPI.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';

import { LocalTensorBoards } from '../src/server/tensorboard/local.js';
import { runLogDirs } from '../src/server/tensorboard/logdirs.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PYTHON = path.join(process.env.CHARD_VENV ?? path.join(ROOT, '.venv'), 'bin', 'python');
const CHROMIUM = '/usr/bin/chromium';

/** Load TensorBoard's page and wait for its first drawn scalar chart (ms since `start`). */
async function firstChart(context: BrowserContext, url: string, start: number): Promise<number> {
  const page = await context.newPage();
  try {
    await page.goto(url);
    await page.locator(CHART).first().waitFor({ timeout: 120_000 });
    return performance.now() - start;
  } finally {
    await page.close();
  }
}

const CHART = 'scalar-card line-chart canvas, scalar-card line-chart svg';

/**
 * In `host` (a page of TensorBoard's origin that has shown TensorBoard before, as JupyterLab's
 * page is), replace any iframe by a new one on `url` and wait for its first drawn scalar chart
 * (ms since `start`).
 */
async function firstChartInFrame(host: Page, url: string, start: number): Promise<number> {
  await host.evaluate(src => {
    document.querySelectorAll('iframe').forEach(frame => frame.remove());
    const frame = document.createElement('iframe');
    frame.style.width = '1100px';
    frame.style.height = '800px';
    frame.src = src;
    document.body.appendChild(frame);
  }, url);
  await host.frameLocator('iframe').locator(CHART).first().waitFor({ timeout: 120_000 });
  return performance.now() - start;
}

function get(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, res => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() })
        );
      })
      .on('error', reject);
  });
}

/** Poll until TensorBoard answers the first scalar series with points (ms since `start`). */
async function firstSeries(base: string, run: string, start: number): Promise<number> {
  const url = `${base}data/plugin/scalars/scalars?run=${encodeURIComponent(run)}&tag=loss`;
  for (;;) {
    const answer = await get(url).catch(() => ({ status: 0, text: '' }));
    if (answer.status === 200 && answer.text.startsWith('[[')) {
      return performance.now() - start;
    }
    await new Promise(r => setTimeout(r, 20));
  }
}

export async function run(): Promise<void> {
  if (!fs.existsSync(PYTHON)) {
    console.log(`skipped: ${PYTHON} is missing (bash scripts/setup-venv.sh)`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-bench-tb-'));
  const written = JSON.parse(
    execFileSync(PYTHON, [path.join(ROOT, 'tests/fixtures/tensorboard/write_runs.py'), dir], {
      encoding: 'utf8'
    })
  ) as { runA: string; runB: string };
  const ws = (id: string): string => path.join(dir, '.chard', 'runs', id, 'workspace');
  const logdirs = await runLogDirs([
    { name: written.runA, workspace: ws(written.runA) },
    { name: written.runB, workspace: ws(written.runB) }
  ]);
  const boards = new LocalTensorBoards({ python: PYTHON, pathPrefix: '/chard/tensorboard' });
  const browser = fs.existsSync(CHROMIUM)
    ? await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    : null;
  const cold: number[] = [];
  const warm: number[] = [];
  const coldChart: number[] = [];
  const warmChart: number[] = [];
  const aheadChart: number[] = [];
  const tabChart: number[] = [];
  try {
    for (let round = 0; round < 3; round++) {
      // The data: open -> TensorBoard answers the first scalar series.
      let start = performance.now();
      const board = await boards.open(logdirs);
      const base = `http://127.0.0.1:${board.port}/chard/tensorboard/${board.id}/`;
      cold.push(await firstSeries(base, `${written.runA}/train`, start));
      start = performance.now();
      const again = await boards.open(logdirs);
      warm.push(
        await firstSeries(
          `http://127.0.0.1:${again.port}/chard/tensorboard/${again.id}/`,
          `${written.runA}/train`,
          start
        )
      );
      await boards.release(board.id);
      await boards.release(board.id);
      if (browser) {
        // Cold: open -> TensorBoard started -> its page drawn in a new tab (a fresh browser
        // context: nothing of TensorBoard's page cached).
        start = performance.now();
        const shown = await boards.open(logdirs);
        const base = (id: string, port: number | null): string =>
          `http://127.0.0.1:${String(port)}/chard/tensorboard/${id}/`;
        const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
        const host = await context.newPage();
        await host.goto(base(shown.id, shown.port));
        await host.locator(CHART).first().waitFor({ timeout: 120_000 });
        coldChart.push(performance.now() - start);
        // Warm: the same page goes on to a small document of the same origin (TensorBoard's
        // plugin list) and opens a panel again: a new iframe on the running TensorBoard.
        await host.goto(`${base(shown.id, shown.port)}data/plugins_listing`);
        for (let again = 0; again < 2; again++) {
          start = performance.now();
          const reused = await boards.open(logdirs);
          warmChart.push(await firstChartInFrame(host, base(reused.id, reused.port), start));
          await boards.release(reused.id);
        }
        await host.close();
        // Reference: the running TensorBoard in a new tab of the same browser (its files in
        // the HTTP cache, as after reloading JupyterLab).
        start = performance.now();
        const reused = await boards.open(logdirs);
        tabChart.push(await firstChart(context, base(reused.id, reused.port), start));
        await boards.release(reused.id);
        await boards.release(shown.id);
        await context.close();
        // Reference: a run that wrote event files just finished: the backend started its
        // TensorBoard then (LocalTensorBoards.prestart); "Open TensorBoard" comes after, in a new
        // browser context.
        await boards.prestart(logdirs);
        const fresh = await browser.newContext({ viewport: { width: 1100, height: 800 } });
        start = performance.now();
        const ahead = await boards.open(logdirs);
        aheadChart.push(await firstChart(fresh, base(ahead.id, ahead.port), start));
        await fresh.close();
        await boards.release(ahead.id);
      }
    }
  } finally {
    await browser?.close();
    await boards.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const med = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  console.log(
    `open -> first scalar series, cold (TensorBoard started): median ${(med(cold) / 1000).toFixed(2)} s ` +
      `of ${cold.map(v => (v / 1000).toFixed(2)).join(', ')} (goal <= 5 s)`
  );
  console.log(
    `open -> first scalar series, warm (reused): median ${med(warm).toFixed(0)} ms ` +
      `of ${warm.map(v => v.toFixed(0)).join(', ')} (goal <= 1000 ms)`
  );
  if (coldChart.length > 0) {
    const fmt = (v: number[]): string => v.map(x => (x / 1000).toFixed(2)).join(', ');
    console.log(
      `"Open TensorBoard" -> first scalar chart drawn in Chromium, cold: median ${(med(coldChart) / 1000).toFixed(2)} s of ${fmt(coldChart)} (goal <= 5 s) ${med(coldChart) <= 5000 ? 'OK' : 'MISSED'}`
    );
    console.log(
      `"Open TensorBoard" -> first scalar chart drawn in Chromium, warm (TensorBoard running, ` +
        `a new iframe in a page that showed it before, as JupyterLab's): median ` +
        `${(med(warmChart) / 1000).toFixed(2)} s of ${fmt(warmChart)} (goal <= 1 s) ` +
        `${med(warmChart) <= 1000 ? 'OK' : 'MISSED'}`
    );
    console.log(
      `  for reference, TensorBoard running, its page in a new browser tab (as after reloading ` +
        `JupyterLab): median ${(med(tabChart) / 1000).toFixed(2)} s of ${fmt(tabChart)}`
    );
    console.log(
      `  for reference, TensorBoard started ahead as the run ended, its page in a new browser ` +
        `context: median ${(med(aheadChart) / 1000).toFixed(2)} s of ${fmt(aheadChart)}`
    );
  }
}
