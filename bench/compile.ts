/**
 * Compile speed and manifest size: 20- and 50-step chain plans (each step ~40 lines of code, two
 * values in, two out, two parameters) compiled to both targets with the real embedded runtime.
 * Prints the median compile time and the manifest size against the 1.5 MiB object limit of
 * etcd, which an Argo Workflow must stay under to be stored, and which bounds a KFP spec too:
 * the KFP backend turns it into an Argo Workflow carrying every executor's container spec.
 */
import { compileArgo } from '../src/core/compile/argo.js';
import { compileKfp } from '../src/core/compile/kfp.js';
import type { IPlan, IStep } from '../src/core/plan.js';

function makePlan(steps: number): IPlan {
  const list: IStep[] = [];
  for (let i = 0; i < steps; i++) {
    const lines = Array.from(
      { length: 40 },
      (_, k) => `x_${i}_${k} = [v * ${k} for v in data_${i}] if LR > 0 else "{{workflow.name}}"`
    );
    const inputs = i === 0 ? [] : [`data_${i}`, `meta_${i}`];
    list.push({
      name: `stage ${i}`,
      id: `stage-${i}`,
      cells: [i + 2],
      code: [{ cell: i + 2, source: lines.join('\n') }],
      inputs,
      outputs: i === steps - 1 ? [] : [`data_${i + 1}`, `meta_${i + 1}`],
      parameters: ['EPOCHS', 'LR'],
      metrics: i === steps - 1 ? ['loss'] : [],
      parents: i === 0 ? [] : [`stage ${i - 1}`],
      inputSources: Object.fromEntries(inputs.map(n => [n, `stage ${i - 1}`])),
      limits: { cpu: '1', memory: '2Gi' },
      labels: {},
      annotations: {},
      secrets: []
    });
  }
  return {
    version: 1,
    pipeline: {
      name: 'bench',
      id: 'bench',
      description: '',
      experiment: 'Default',
      volumes: [{ type: 'pvc', name: 'workspace', mountPoint: '/home/jovyan' }],
      autosnapshot: false,
      chard: {}
    },
    proposed: false,
    imports: [{ cell: 0, source: 'import numpy as np\nimport pandas as pd' }],
    functions: [],
    steps: list,
    edges: [],
    parameters: [
      { name: 'EPOCHS', type: 'int', value: 10, cell: 1, line: 1 },
      { name: 'LR', type: 'float', value: 0.01, cell: 1, line: 2 }
    ],
    metrics: [{ name: 'loss', step: `stage ${steps - 1}`, cell: steps + 1, line: 1 }],
    diagnostics: []
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function run(): Promise<void> {
  const limit = 1.5 * 1024 * 1024;
  for (const steps of [20, 50]) {
    const plan = makePlan(steps);
    for (const [target, compile] of [
      ['argo', compileArgo],
      ['kfp', compileKfp]
    ] as const) {
      const times: number[] = [];
      let size = 0;
      for (let i = 0; i < 5; i++) {
        const start = performance.now();
        size = utf8Length(compile(plan).text);
        times.push(performance.now() - start);
      }
      console.log(
        `compile ${target}: ${steps} steps in ${median(times).toFixed(1)} ms (median of 5); ` +
          `manifest ${(size / 1024).toFixed(0)} KiB = ${((100 * size) / limit).toFixed(0)}% of ` +
          `1.5 MiB (${(size / steps / 1024).toFixed(1)} KiB per step)`
      );
    }
  }
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
