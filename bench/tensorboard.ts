/**
 * TensorBoard: the time from "Open TensorBoard" (the backend's `open`) to the first scalar series
 * answered by TensorBoard's data API, on the two runs of tests/fixtures/tensorboard/write_runs.py
 * (three TensorBoard runs, real event files). Cold: TensorBoard is started (goal <= 5 s on a
 * 2-core machine); warm: a second panel on the same runs reuses it (goal <= 1 s). The browser's
 * own rendering is not included (the browser e2e prints its figure). Uses the test virtualenv's
 * Python (scripts/setup-venv.sh), which has tensorboard and tensorboardX from PyPI.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

import { chromium } from 'playwright-core';
import type { BrowserContext } from 'playwright-core';

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
    await page
      .locator('scalar-card line-chart canvas, scalar-card line-chart svg')
      .first()
      .waitFor({ timeout: 120_000 });
    return performance.now() - start;
  } finally {
    await page.close();
  }
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
        // The page: open -> TensorBoard's page draws its first scalar chart (a fresh browser
        // context each time: nothing of TensorBoard's page cached, as in a new JupyterLab tab).
        start = performance.now();
        const shown = await boards.open(logdirs);
        const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
        const page = `http://127.0.0.1:${shown.port}/chard/tensorboard/${shown.id}/`;
        coldChart.push(await firstChart(context, page, start));
        start = performance.now();
        const reused = await boards.open(logdirs);
        warmChart.push(
          await firstChart(
            context,
            `http://127.0.0.1:${reused.port}/chard/tensorboard/${reused.id}/`,
            start
          )
        );
        await boards.release(shown.id);
        await boards.release(shown.id);
        // A run that wrote event files just finished: the backend started its TensorBoard then
        // (LocalTensorBoards.prestart); "Open TensorBoard" comes after.
        await boards.prestart(logdirs);
        start = performance.now();
        const ahead = await boards.open(logdirs);
        aheadChart.push(
          await firstChart(
            context,
            `http://127.0.0.1:${ahead.port}/chard/tensorboard/${ahead.id}/`,
            start
          )
        );
        await context.close();
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
      `  ... on a run that just finished (its TensorBoard started as it ended): median ${(med(aheadChart) / 1000).toFixed(2)} s of ${fmt(aheadChart)}`
    );
    console.log(
      `"Open TensorBoard" -> first scalar chart drawn in Chromium, warm: median ${(med(warmChart) / 1000).toFixed(2)} s of ${fmt(warmChart)} (goal <= 1 s) ${med(warmChart) <= 1000 ? 'OK' : 'MISSED'}`
    );
  }
}
