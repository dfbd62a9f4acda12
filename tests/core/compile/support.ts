/** Shared helpers for the compiler tests: fixtures, golden files, decoding specs from manifests. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import type { IParameter, IPlan, IStep } from '../../../src/core/plan.js';
import type { IStepSpec } from '../../../src/core/stepspec.js';

const FIXTURES = join(process.cwd(), 'tests', 'fixtures');

/**
 * A small stand-in for the step runtime, so golden files stay readable and do not change every
 * time the real runtime does (compilers take it as `runtimeSource`).
 */
export const STUB_RUNTIME = 'import sys\nprint("chard runtime stub", sys.argv[1:])\n';

export function loadPlan(name: string): IPlan {
  return JSON.parse(readFileSync(join(FIXTURES, 'plans', `${name}.json`), 'utf8')) as IPlan;
}

/** Compare `text` with a golden file; `UPDATE_GOLDEN=1` rewrites it instead. */
export function expectGolden(name: string, text: string): void {
  const file = join(FIXTURES, 'golden', name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1') {
      throw new Error(`golden file ${name} is missing; run with UPDATE_GOLDEN=1 to create it`);
    }
    writeFileSync(file, text);
    return;
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
}

/** Parse YAML text into its documents, failing on any YAML error. */
export function yamlDocuments(text: string): unknown[] {
  const docs = parseAllDocuments(text, { version: '1.1' });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      throw new Error(doc.errors[0].message);
    }
  }
  return list.map(doc => doc.toJS());
}

export function decodeBase64(text: string): string {
  return Buffer.from(text, 'base64').toString('utf8');
}

type Json = Record<string, unknown>;
interface IArgoTask {
  name: string;
  template: string;
  dependencies?: string[];
  arguments?: { parameters?: { name: string; value: string }[] };
}
interface IArgoTemplate {
  name: string;
  container?: { command: string[]; args?: string[] };
  inputs?: { parameters?: { name: string }[]; artifacts?: unknown[] };
  dag?: { tasks: IArgoTask[] };
}

/** One container step of a Workflow as Argo runs it. */
export interface IArgoStepRun {
  /** The task name (the step id). */
  task: string;
  template: IArgoTemplate;
  /** Input parameters of the template, as the task passes them. */
  parameters: Map<string, string>;
  /**
   * The container's command and then its arguments (the Workflow's `templateDefaults` ones when
   * the template has none, as Argo merges them), `{{inputs.parameters.X}}` substituted.
   */
  command: string[];
}

/**
 * The container steps of a Workflow in the order of its DAGs (nested DAGs expanded in place),
 * each with the input parameters its task hands it. Nothing else reaches a step: no template
 * takes artifacts (Argo would copy them into the Workflow's status for every node).
 */
export function argoStepRuns(workflow: unknown): IArgoStepRun[] {
  const spec = (workflow as Json).spec as {
    entrypoint: string;
    templates: IArgoTemplate[];
    templateDefaults?: { container?: { args?: string[] } };
  };
  const byName = new Map(spec.templates.map(t => [t.name, t]));
  const out: IArgoStepRun[] = [];
  const walk = (template: IArgoTemplate): void => {
    if (template.inputs?.artifacts) {
      throw new Error(`template ${template.name} takes artifacts`);
    }
    for (const task of template.dag?.tasks ?? []) {
      const target = byName.get(task.template);
      if (!target) {
        throw new Error(`task ${task.name}: no template ${task.template}`);
      }
      if (target.dag) {
        walk(target);
        continue;
      }
      if (target.inputs?.artifacts) {
        throw new Error(`template ${target.name} takes artifacts`);
      }
      const parameters = new Map(
        (task.arguments?.parameters ?? []).map(p => [p.name, p.value] as [string, string])
      );
      for (const p of target.inputs?.parameters ?? []) {
        if (!parameters.has(p.name)) {
          throw new Error(`task ${task.name}: no value for input parameter ${p.name}`);
        }
      }
      const args = target.container?.args ?? spec.templateDefaults?.container?.args ?? [];
      const command = [...(target.container?.command ?? []), ...args].map(arg =>
        arg.replace(/\{\{inputs\.parameters\.([-\w]+)\}\}/g, (_, n: string) =>
          String(parameters.get(n))
        )
      );
      out.push({ task: task.name, template: target, parameters, command });
    }
  };
  const entry = byName.get(spec.entrypoint);
  if (!entry) {
    throw new Error(`no entrypoint template ${spec.entrypoint}`);
  }
  walk(entry);
  return out;
}

/** Decode a bundle of step specs (`--spec-bundle-zb64`, parts joined). */
export function decodeSpecBundle(data: string): Record<string, string> {
  return JSON.parse(inflateSync(Buffer.from(data, 'base64')).toString('utf8')) as Record<
    string,
    string
  >;
}

/** The step specs and runtime sources an Argo Workflow carries, by step id (task name). */
export function argoPayloads(
  workflow: unknown
): Map<string, { spec: IStepSpec; runtime: string; bootstrap: string; command: string[] }> {
  const out = new Map<
    string,
    { spec: IStepSpec; runtime: string; bootstrap: string; command: string[] }
  >();
  for (const run of argoStepRuns(workflow)) {
    if (run.command[1] !== '-c') {
      throw new Error(`step ${run.task} does not run the bootstrap with python3 -c`);
    }
    const hash = flagValues(run.command, '--spec-sha256')[0];
    const bundle = decodeSpecBundle(flagValues(run.command, '--spec-bundle-zb64').join(''));
    const specText = bundle[hash];
    if (specText === undefined) {
      throw new Error(`step ${run.task}: the bundle has no spec ${hash}`);
    }
    out.set(run.task, {
      spec: JSON.parse(specText) as IStepSpec,
      runtime: decodeBase64(flagValues(run.command, '--runtime-b64').join('')),
      bootstrap: run.command[2],
      command: run.command
    });
  }
  return out;
}

/** Values following each occurrence of `flag` in an argument list. */
export function flagValues(args: string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((arg, i) => {
    if (arg === flag && i + 1 < args.length) {
      out.push(args[i + 1]);
    }
  });
  return out;
}

export interface IKfpPayload {
  spec: IStepSpec;
  /** The runtime source the `chard-runtime` task saves for every step. */
  runtime: string;
  args: string[];
  command: string[];
}

/**
 * The step specs a KFP pipeline spec carries, by step id: each from its task's constant
 * `chard_spec` parameter, or from its executor's `--spec-zb64` arguments when it is too large
 * for that; `args` and `command` are those of the step's (possibly shared) executor.
 */
export function kfpPayloads(pipelineSpec: unknown): Map<string, IKfpPayload> {
  const spec = pipelineSpec as Json;
  const executors = (spec.deploymentSpec as Json).executors as Record<
    string,
    { container: { args: string[]; command: string[] } }
  >;
  const runtimeArgs = executors['exec-chard-runtime']?.container.args;
  if (!runtimeArgs) {
    throw new Error('the pipeline spec has no exec-chard-runtime executor');
  }
  const runtime = decodeBase64(flagValues(runtimeArgs, '--runtime-b64').join(''));
  const components = spec.components as Record<string, { executorLabel: string }>;
  const tasks = ((spec.root as Json).dag as Json).tasks as Record<
    string,
    {
      componentRef: { name: string };
      inputs?: { parameters?: Record<string, { runtimeValue?: { constant: string } }> };
    }
  >;
  const out = new Map<string, IKfpPayload>();
  for (const [id, task] of Object.entries(tasks)) {
    const executor = executors[components[task.componentRef.name].executorLabel];
    const args = executor.container.args;
    if (id === 'chard-runtime') {
      continue;
    }
    const name = flagValues(args, '--kfp-spec')[0];
    const packed =
      name === undefined
        ? flagValues(args, '--spec-zb64').join('')
        : (task.inputs?.parameters?.[name]?.runtimeValue?.constant ?? '');
    out.set(id, {
      spec: JSON.parse(inflateSync(Buffer.from(packed, 'base64')).toString('utf8')) as IStepSpec,
      runtime,
      args,
      command: executor.container.command
    });
  }
  return out;
}

/** A step of a hand-built plan: one cell of code, nothing else unless `extra` says so. */
export function step(name: string, id: string, code: string, extra: Partial<IStep> = {}): IStep {
  return {
    name,
    id,
    cells: [1],
    code: [{ cell: 1, source: code }],
    inputs: [],
    outputs: [],
    parameters: [],
    metrics: [],
    parents: [],
    inputSources: {},
    limits: {},
    labels: {},
    annotations: {},
    secrets: [],
    ...extra
  };
}

/** A hand-built plan around `steps` (pipeline `inject`, one imports cell). */
export function planOf(
  steps: IStep[],
  parameters: IParameter[] = [],
  pipeline: Partial<IPlan['pipeline']> = {}
): IPlan {
  return {
    version: 1,
    pipeline: {
      name: 'inject',
      id: 'inject',
      description: '',
      experiment: 'Default',
      volumes: [],
      autosnapshot: false,
      chard: {},
      ...pipeline
    },
    proposed: false,
    imports: [{ cell: 0, source: 'import os' }],
    functions: [],
    steps,
    edges: [],
    parameters,
    metrics: [],
    diagnostics: []
  };
}
