/**
 * Notebooks with hundreds of steps: Argo caps a Workflow's templates and a DAG's tasks at 200
 * each, and a Kubernetes object must stay well under etcd's 1.5 MiB.
 */
import { execFileSync } from 'node:child_process';
import { deflateSync } from 'node:zlib';
import { ARGO_MAX_DAG_TASKS, compileArgo } from '../../../src/core/compile/argo.js';
import { compileKfp } from '../../../src/core/compile/kfp.js';
import type { IPlan, IStep } from '../../../src/core/plan.js';
import { stepCode } from '../../../src/core/plan.js';
import { workflowSchemaProblem as argoSchemaProblem } from '../../../src/server/argo/schema.js';
import { sizeWarnings } from '../../../src/core/compile/steps.js';
import { STUB_RUNTIME, argoPayloads, argoStepRuns } from './support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** `n` steps, each reading the previous one's value and (from 150 on) one 150 steps back. */
function bigPlan(n: number, images = 1): IPlan {
  const steps: IStep[] = [];
  for (let i = 0; i < n; i++) {
    const parents = i === 0 ? [] : i >= 150 ? [`s${i - 150}`, `s${i - 1}`] : [`s${i - 1}`];
    const inputs = parents.map(p => `v_${p.slice(1)}`);
    steps.push({
      name: `s${i}`,
      id: `s${i}`,
      cells: [i + 1],
      code: [
        {
          cell: i + 1,
          source: Array.from(
            { length: 30 },
            (_, k) => `v_${i}_${k} = sum(x * ${k} for x in range(${i}))`
          ).join('\n')
        }
      ],
      inputs: [...inputs].sort(),
      outputs: [`v_${i}`],
      parameters: ['RATE'],
      metrics: [],
      parents,
      inputSources: Object.fromEntries(inputs.map((v, k) => [v, parents[k]])),
      limits: { cpu: '1' },
      labels: {},
      annotations: {},
      image: images > 1 ? `python:3.${10 + (i % images)}` : undefined,
      secrets: []
    });
  }
  return {
    version: 1,
    pipeline: {
      name: 'big',
      id: 'big',
      description: '',
      experiment: 'Default',
      volumes: [],
      autosnapshot: false,
      chard: {}
    },
    proposed: false,
    imports: [{ cell: 0, source: 'import math' }],
    functions: [],
    steps,
    edges: [],
    parameters: [{ name: 'RATE', type: 'float', value: 0.5, cell: 0, line: 1 }],
    metrics: [],
    diagnostics: []
  };
}

/**
 * For each step task, every task Argo finishes before starting it: its own dependencies inside
 * its DAG, and everything in the groups its enclosing group tasks wait for (transitively).
 */
function finishedBefore(workflow: Json): Map<string, Set<string>> {
  const templates = new Map<string, Json>(
    (workflow.spec.templates as Json[]).map(t => [t.name, t])
  );
  const leaves = (templateName: string): string[] => {
    const t = templates.get(templateName)!;
    return t.dag
      ? (t.dag.tasks as Json[]).flatMap(task =>
          templates.get(task.template)!.dag ? leaves(task.template) : [task.name]
        )
      : [];
  };
  const out = new Map<string, Set<string>>();
  const walk = (templateName: string, inherited: Set<string>): void => {
    const tasks = templates.get(templateName)!.dag.tasks as Json[];
    const byName = new Map(tasks.map(t => [t.name as string, t]));
    const closure = (task: Json, seen = new Set<string>()): Set<string> => {
      for (const d of (task.dependencies ?? []) as string[]) {
        if (!seen.has(d)) {
          seen.add(d);
          closure(byName.get(d)!, seen);
        }
      }
      return seen;
    };
    for (const task of tasks) {
      const before = new Set(inherited);
      for (const d of closure(task)) {
        const dep = byName.get(d)!;
        for (const leaf of templates.get(dep.template)!.dag ? leaves(dep.template) : [d]) {
          before.add(leaf);
        }
      }
      if (templates.get(task.template)!.dag) {
        walk(task.template, before);
      } else {
        out.set(task.name, before);
      }
    }
  };
  walk(workflow.spec.entrypoint, new Set());
  return out;
}

describe('argo target: any number of steps', () => {
  it.each([201, 450])(
    '%i steps compile into a valid Workflow: shared templates, nested DAGs, order kept',
    n => {
      const plan = bigPlan(n);
      const workflow = compileArgo(plan, { runtimeSource: STUB_RUNTIME }).documents[0] as Json;
      expect(argoSchemaProblem(workflow)).toBeNull();
      const templates = workflow.spec.templates as Json[];
      expect(templates.filter(t => t.container)).toHaveLength(1);
      for (const t of templates.filter(t => t.dag)) {
        expect(t.dag.tasks.length).toBeLessThanOrEqual(ARGO_MAX_DAG_TASKS);
      }
      // Every step runs once, after all of its parents.
      const before = finishedBefore(workflow);
      expect([...before.keys()].sort()).toEqual(plan.steps.map(s => s.id).sort());
      for (const step of plan.steps) {
        for (const parent of step.parents) {
          expect([step.id, before.get(step.id)!.has(parent)]).toEqual([step.id, true]);
        }
      }
      // Each step receives exactly its own code.
      const payloads = argoPayloads(workflow);
      for (const step of [plan.steps[0], plan.steps[200], plan.steps[n - 1]]) {
        expect(payloads.get(step.id)!.spec.code).toEqual(stepCode(plan, step));
      }
    }
  );

  it('gives steps with different images templates of their own', () => {
    const workflow = compileArgo(bigPlan(30, 3), { runtimeSource: STUB_RUNTIME })
      .documents[0] as Json;
    const images = (workflow.spec.templates as Json[])
      .filter(t => t.container)
      .map(t => t.container.image);
    expect(images).toEqual(['python:3.10', 'python:3.11', 'python:3.12']);
  });

  it('says clearly when the steps need more than 200 different templates', () => {
    expect(() => compileArgo(bigPlan(260, 260), { runtimeSource: STUB_RUNTIME })).toThrow(
      'the steps need 260 different step templates (one per combination of image, limits, ' +
        'secrets, pod labels and annotations), and Argo allows 200 templates in a Workflow'
    );
  });

  it('a 500-step notebook compiles to at most 1 MiB on Argo, and stays small on KFP', () => {
    const plan = bigPlan(500);
    const argo = compileArgo(plan);
    const kfp = compileKfp(plan);
    // Before: about 3.5 KB a step (the code of every step embedded in its own template).
    expect(Buffer.byteLength(argo.text)).toBeLessThanOrEqual(1024 * 1024);
    expect(Buffer.byteLength(kfp.text)).toBeLessThanOrEqual(1.5 * 1024 * 1024);
    expect([...argo.warnings, ...kfp.warnings].filter(w => w.includes('MiB'))).toEqual([]);
  });

  it('warns when a manifest is more than a Kubernetes object can hold', () => {
    expect(sizeWarnings('x'.repeat(1.6 * 1024 * 1024), 'pipeline spec')).toEqual([
      'the pipeline spec is 1.6 MiB, more than the 1.5 MiB a Kubernetes object can hold: the ' +
        'cluster will likely refuse it (fewer, larger steps make it smaller)'
    ]);
  });
});

describe('the bootstrap checks the step spec it is given', () => {
  it('refuses a bundle whose spec does not have the sha256 the step names', () => {
    const plan = bigPlan(2);
    const workflow = compileArgo(plan, { runtimeSource: STUB_RUNTIME }).documents[0] as Json;
    const run = argoStepRuns(workflow)[1];
    const hash = run.parameters.get('chard-spec')!;
    // A bundle where the step's hash maps to other text (a tampered or mixed-up bundle).
    const forged = deflateSync(JSON.stringify({ [hash]: '{"version": 1}' })).toString('base64');
    const argv: string[] = [];
    run.command.slice(1).forEach((arg, i, all) => {
      if (arg === '--spec-bundle-zb64') {
        if (!argv.includes(arg)) {
          argv.push(arg, forged);
        }
      } else if (all[i - 1] !== '--spec-bundle-zb64') {
        argv.push(arg);
      }
    });
    let stderr = '';
    try {
      execFileSync('python3', argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      stderr = String((error as { stderr: string }).stderr);
    }
    expect(stderr).toMatch(
      new RegExp(`chard bootstrap: the step spec has sha256 [0-9a-f]{64}, not ${hash} as compiled`)
    );
  });
});
