/**
 * Compile speed and manifest size: chain plans of 20 to 500 steps (each step ~40 lines of code,
 * two values in, two out, two parameters) compiled to both targets with the real embedded
 * runtime. Prints the median compile time, the manifest size against the 1.5 MiB object limit
 * of etcd, which an Argo Workflow must stay under to be stored, and which bounds a KFP spec too
 * (the KFP backend turns it into an Argo Workflow carrying every executor's container spec),
 * and the bytes each step adds. Goals: a 500-step notebook compiles to an Argo Workflow of at
 * most 1 MiB, and to a KFP spec under 1.5 MiB.
 */
import { compileArgo } from '../src/core/compile/argo.js';
import { compileKfp } from '../src/core/compile/kfp.js';
import type { IPlan, IStep } from '../src/core/plan.js';

export function makePlan(steps: number): IPlan {
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
  const goal = 1024 * 1024;
  const sizes = [20, 50, 200, 500];
  for (const [target, compile] of [
    ['argo', compileArgo],
    ['kfp', compileKfp]
  ] as const) {
    const bytes = new Map<number, number>();
    for (const steps of sizes) {
      const plan = makePlan(steps);
      const rounds = steps > 100 ? 3 : 5;
      const times: number[] = [];
      let size = 0;
      for (let i = 0; i < rounds; i++) {
        const start = performance.now();
        size = utf8Length(compile(plan).text);
        times.push(performance.now() - start);
      }
      bytes.set(steps, size);
      console.log(
        `compile ${target}: ${steps} steps in ${median(times).toFixed(0)} ms (median of ${rounds}); ` +
          `manifest ${(size / 1024).toFixed(0)} KiB = ${((100 * size) / limit).toFixed(0)}% of ` +
          `1.5 MiB (${(size / steps).toFixed(0)} bytes per step overall)`
      );
    }
    // What one more step costs: the slope between the sizes, without the fixed part (runtime).
    const slope = (a: number, b: number): string =>
      (((bytes.get(b) as number) - (bytes.get(a) as number)) / (b - a)).toFixed(0);
    console.log(
      `compile ${target}: bytes per added step: ${slope(20, 50)} (20->50), ${slope(50, 200)} ` +
        `(50->200), ${slope(200, 500)} (200->500)`
    );
    if (target === 'argo') {
      const size = bytes.get(500) as number;
      console.log(
        `compile argo: 500 steps = ${(size / 1024).toFixed(0)} KiB; goal <= 1024 KiB: ` +
          (size <= goal ? 'met' : 'NOT met')
      );
    } else {
      // The KFP backend turns the spec into one Argo Workflow, a Kubernetes object: it must fit.
      const size = bytes.get(500) as number;
      console.log(
        `compile kfp: 500 steps = ${(size / 1024).toFixed(0)} KiB; goal < 1536 KiB (1.5 MiB, ` +
          `a Kubernetes object's limit): ${size < limit ? 'met' : 'NOT met'}`
      );
    }
  }
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
