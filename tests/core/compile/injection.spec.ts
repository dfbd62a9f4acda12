/**
 * Nothing a user writes can inject anything: step names, parameter values, cell code and
 * metadata come out of both compilers as inert data (issue 3, section 5), including a seeded
 * fuzz test over random plans.
 */
import { compileArgo } from '../../../src/core/compile/argo.js';
import { compileKfp } from '../../../src/core/compile/kfp.js';
import { PARAM_B64_PREFIX } from '../../../src/core/compile/payload.js';
import { stepCode } from '../../../src/core/plan.js';
import type { IParameter, IPlan, IStep, ParameterValue } from '../../../src/core/plan.js';
import { workflowSchemaProblem as argoSchemaProblem } from '../../../src/server/argo/schema.js';
import {
  STUB_RUNTIME,
  argoPayloads,
  decodeBase64,
  flagValues,
  kfpPayloads,
  loadPlan,
  planOf,
  step,
  yamlDocuments
} from './support.js';
import { seededRandom } from '../../support/random.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What the bootstrap does with a `--param` value or a workflow argument. */
function decodeParam(text: string): string {
  return text.startsWith(PARAM_B64_PREFIX)
    ? decodeBase64(text.slice(PARAM_B64_PREFIX.length))
    : text;
}

function textOf(value: ParameterValue): string {
  return typeof value === 'string' ? value : String(value);
}

/** All `{{...}}` tags in a text. */
function tags(text: string): string[] {
  return text.match(/\{\{[^}]*\}\}/g) ?? [];
}

/** Every check the issue asks for, on one plan. */
function expectInert(plan: IPlan): void {
  // Argo: one document, valid, code and parameter values exactly the plan's.
  const argo = compileArgo(plan, { runtimeSource: STUB_RUNTIME });
  const argoDocs = yamlDocuments(argo.text);
  expect(argoDocs).toHaveLength(1);
  expect(argoSchemaProblem(argoDocs[0])).toBeNull();
  const payloads = argoPayloads(argoDocs[0]);
  for (const step of plan.steps) {
    const p = payloads.get(step.id);
    expect(p?.spec.code).toEqual(stepCode(plan, step));
    expect(p?.spec.step).toBe(step.name);
    for (const name of step.parameters) {
      expect(flagValues(p!.command, '--param')).toContain(
        `${name}={{workflow.parameters.${name}}}`
      );
    }
  }
  const wf = argoDocs[0] as Json;
  const args = (wf.spec.arguments?.parameters ?? []) as { name: string; value: string }[];
  expect(args.map(a => a.name)).toEqual(plan.parameters.map(p => p.name));
  plan.parameters.forEach((p, i) => expect(decodeParam(args[i].value)).toBe(textOf(p.value)));
  // The only tags Argo could substitute are the references Chard wrote.
  const allowed = new Set([
    '{{inputs.parameters.chard-spec}}',
    ...plan.parameters.map(p => `{{workflow.parameters.${p.name}}}`)
  ]);
  for (const tag of tags(argo.text)) {
    expect(allowed).toContain(tag);
  }

  // KFP: the pipeline spec (plus a platform spec only when needed), same code and values.
  const kfp = compileKfp(plan, { runtimeSource: STUB_RUNTIME });
  const kfpDocs = yamlDocuments(kfp.text) as Json[];
  expect(kfpDocs).toEqual(kfp.documents);
  const needsPlatform =
    plan.pipeline.volumes.length > 0 ||
    plan.steps.some(
      s =>
        s.secrets.length > 0 ||
        Object.keys(s.labels).length > 0 ||
        Object.keys(s.annotations).length > 0
    );
  expect(kfpDocs).toHaveLength(needsPlatform ? 2 : 1);
  const spec = kfpDocs[0];
  const kfpPayload = kfpPayloads(spec);
  for (const step of plan.steps) {
    expect(kfpPayload.get(step.id)?.spec.code).toEqual(stepCode(plan, step));
    expect(spec.root.dag.tasks[step.id].taskInfo.name).toBe(step.name);
    // Chard's own artifacts (the runtime in, the metrics out) never take a value's name.
    const component = spec.components[`comp-${step.id}`];
    const outputs = (component.outputDefinitions?.artifacts ?? {}) as Json;
    const metrics = Object.keys(outputs).filter(
      n => outputs[n].artifactType.schemaTitle === 'system.Metrics'
    );
    expect(metrics).toHaveLength(step.metrics.length > 0 ? 1 : 0);
    expect(Object.keys(outputs).sort()).toEqual([...step.outputs, ...metrics].sort());
    expect(Object.keys(component.inputDefinitions.artifacts)).toHaveLength(step.inputs.length + 1);
  }
  for (const p of plan.parameters) {
    const value = spec.root.inputDefinitions.parameters[p.name].defaultValue as ParameterValue;
    expect(p.type === 'str' ? decodeParam(value as string) : value).toEqual(p.value);
  }
  const executors = JSON.stringify(spec.deploymentSpec);
  for (const tag of tags(executors)) {
    // KFP placeholders only: parameters, artifact paths and the executor input (metrics).
    expect(tag).toMatch(
      /^\{\{\$(\.(inputs|outputs)\.(parameters|artifacts)\['[\p{L}\p{N}_]+'\](\.path)?)?\}\}$/u
    );
  }
}

describe('injection', () => {
  it('a step named `a"; rm -rf /` is only data', () => {
    const plan = planOf([step('a"; rm -rf /', 'a-rm-rf', 'print("hi")')]);
    expectInert(plan);
    const wf = compileArgo(plan).documents[0] as Json;
    expect(JSON.stringify(wf.spec.templates)).not.toContain('rm -rf');
  });

  it('a parameter value with a YAML document break stays one value', () => {
    const value = 'x\n---\nkind: Secret\n';
    const plan = planOf(
      [step('use', 'use', 'print(p)', { parameters: ['p'] })],
      [{ name: 'p', type: 'str', value, cell: 0, line: 1 }]
    );
    expectInert(plan);
    const wf = yamlDocuments(compileArgo(plan).text)[0] as Json;
    expect(wf.spec.arguments.parameters).toEqual([{ name: 'p', value }]);
    expect(yamlDocuments(compileKfp(plan).text)).toHaveLength(1);
  });

  it('cell code with {{workflow.name}} and YAML metacharacters is never substitutable', () => {
    const code =
      'name = "{{workflow.name}}"\nexpr = "{{=sprig.upper(\'x\')}}"\n' +
      'kfp = "{{$.inputs.parameters[\'p\']}}"\n# ---\n- a: [b, {c: d}] # &anchor *alias !tag |\n';
    const plan = planOf([step('braces', 'braces', code)]);
    expectInert(plan);
    for (const text of [compileArgo(plan).text, compileKfp(plan).text]) {
      expect(text).not.toContain('workflow.name');
      expect(text).not.toContain('sprig');
    }
  });

  it('a parameter value Argo or KFP would rewrite travels base64-encoded', () => {
    const values = ['{{workflow.name}}', "{{$.inputs.parameters['q']}}", `${PARAM_B64_PREFIX}abc`];
    for (const value of values) {
      const plan = planOf(
        [step('use', 'use', 'print(p, q)', { parameters: ['p', 'q'] })],
        [
          { name: 'p', type: 'str', value, cell: 0, line: 1 },
          { name: 'q', type: 'str', value: 'plain', cell: 0, line: 2 }
        ]
      );
      expectInert(plan);
      const wf = compileArgo(plan).documents[0] as Json;
      expect(wf.spec.arguments.parameters[0].value.startsWith(PARAM_B64_PREFIX)).toBe(true);
      expect(wf.spec.arguments.parameters[1].value).toBe('plain');
    }
  });

  it('a pipeline description cannot leave the KFP header comment', () => {
    const plan = planOf([step('s', 's', 'pass')], [], {
      description: 'line one\n---\nkind: Secret\nmetadata: {name: x}'
    });
    const docs = yamlDocuments(compileKfp(plan).text) as Json[];
    expect(docs).toHaveLength(1);
    expect(docs[0].pipelineInfo.description).toBe(plan.pipeline.description);
  });

  it('realistic fixtures are inert too', () => {
    expectInert(loadPlan('classes'));
    expectInert(loadPlan('churn'));
  });
});

const NASTY = [
  '"',
  "'",
  '\\',
  '`',
  '$(rm -rf /)',
  '; rm -rf / #',
  '{{workflow.name}}',
  '{{=sprig.env("HOME")}}',
  "{{$.inputs.parameters['p']}}",
  '{{',
  '}}',
  '\n---\nkind: Secret\n',
  '\n...\n',
  ': ',
  ' #',
  '- ',
  '&a',
  '*a',
  '!!python/object',
  '%YAML 1.1',
  '|',
  '>',
  'yes',
  'no',
  '0o17',
  '1e3',
  '~',
  'null',
  '\t',
  '\r\n',
  '\u00a0',
  '\u2028',
  '\ufeff',
  'é',
  'データ',
  '🦀',
  ' '
];
const LETTERS = 'abcxyzABC019_';

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)];
}

function text(rnd: () => number, parts: number): string {
  let out = '';
  for (let i = 0; i < parts; i++) {
    out += rnd() < 0.5 ? pick(rnd, NASTY) : pick(rnd, LETTERS.split(''));
  }
  return out;
}

/** A step name Chard accepts (see tags.ts stepNameProblem): printable, trimmed, has a letter. */
function stepName(rnd: () => number, index: number): string {
  const raw = text(rnd, 1 + Math.floor(rnd() * 6))
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim();
  return `${raw} s${index}`.trim();
}

function identifier(rnd: () => number, prefix: string, unicode: boolean): string {
  const tail = Array.from({ length: 1 + Math.floor(rnd() * 5) }, () =>
    pick(rnd, (unicode ? 'abé_データ0' : 'abz_09').split(''))
  ).join('');
  return `${prefix}${tail}`;
}

function randomPlan(seed: number): IPlan {
  const rnd = seededRandom(seed);
  const parameters: IParameter[] = Array.from({ length: Math.floor(rnd() * 4) }, (_, i) => {
    const type = pick(rnd, ['int', 'float', 'str', 'bool'] as const);
    const value: ParameterValue =
      type === 'int'
        ? Math.floor(rnd() * 2000) - 1000
        : type === 'float'
          ? Math.round(rnd() * 1e6) / 1e3
          : type === 'bool'
            ? rnd() < 0.5
            : text(rnd, Math.floor(rnd() * 8));
    return { name: identifier(rnd, `P${i}_`, false), type, value, cell: 0, line: i + 1 };
  });
  const count = 1 + Math.floor(rnd() * 5);
  const steps: IStep[] = [];
  for (let i = 0; i < count; i++) {
    const outputs = Array.from({ length: Math.floor(rnd() * 3) }, (_, k) =>
      identifier(rnd, `v${i}_${k}_`, true)
    );
    if (rnd() < 0.2) {
      // Values named like the artifacts Chard adds in KFP.
      outputs.push(i % 2 === 0 ? 'metrics' : 'chard_runtime');
    }
    outputs.sort();
    const available = steps.flatMap(s => s.outputs.map(o => [o, s.name] as const));
    const inputs = [...new Set(available.filter(() => rnd() < 0.5).map(([o]) => o))].sort();
    const inputSources = Object.fromEntries(
      inputs.map(o => [o, available.find(([name]) => name === o)![1]])
    );
    const parents = [...new Set(Object.values(inputSources))];
    const params = parameters
      .filter(() => rnd() < 0.5)
      .map(p => p.name)
      .sort();
    const annotations: Record<string, string> =
      rnd() < 0.3 ? { 'example.com/note': text(rnd, 3).replace(/\{\{/g, '{ {') } : {};
    steps.push(
      step(
        stepName(rnd, i),
        `step-${i}`,
        Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => text(rnd, 10)).join('\n'),
        {
          outputs,
          inputs,
          inputSources,
          parents,
          parameters: params,
          metrics: rnd() < 0.3 ? [identifier(rnd, 'score_', true)] : [],
          annotations,
          limits: rnd() < 0.3 ? { cpu: '1', memory: '1Gi' } : {},
          secrets:
            rnd() < 0.2
              ? [{ secret: 'creds', key: text(rnd, 2).replace(/\W/g, 'k') || 'k', env: 'TOKEN' }]
              : []
        }
      )
    );
  }
  // Outputs nobody reads are not outputs in a plan.
  const read = new Set(steps.flatMap(s => s.inputs));
  for (const s of steps) {
    s.outputs = s.outputs.filter(o => read.has(o));
  }
  return planOf(steps, parameters, {
    name: text(rnd, 4),
    description: text(rnd, 6),
    volumes:
      rnd() < 0.3 ? [{ type: 'pvc', name: 'workspace', mountPoint: '/home/jovyan/my project' }] : []
  });
}

describe('fuzz: random plans with hostile names, code and values', () => {
  const SEEDS = 150;
  it(`${SEEDS} seeded random plans compile to inert, valid manifests on both targets`, () => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const plan = randomPlan(seed);
      try {
        expectInert(plan);
      } catch (error) {
        throw new Error(`seed ${seed}: ${(error as Error).message}`);
      }
    }
  });
});
