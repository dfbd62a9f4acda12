/** Shared helpers for the compiler tests: fixtures, golden files, decoding specs from manifests. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
interface IArgoArtifact {
  name: string;
  path?: string;
  raw?: { data: string };
}
interface IArgoTemplate {
  name: string;
  container?: { command: string[] };
  inputs?: { artifacts?: IArgoArtifact[] };
}

/** The step specs and runtime sources an Argo Workflow carries, by template name. */
export function argoPayloads(
  workflow: unknown
): Map<string, { spec: IStepSpec; runtime: string; bootstrap: string; command: string[] }> {
  const wfSpec = (workflow as Json).spec as {
    templates: IArgoTemplate[];
    arguments: { artifacts: IArgoArtifact[] };
  };
  const templates = wfSpec.templates;
  // The bootstrap and the runtime: workflow arguments the DAG passes down to every step.
  const argument = (name: string): string => {
    const artifact = wfSpec.arguments.artifacts.find(a => a.name === name);
    if (!artifact?.raw) {
      throw new Error(`the workflow has no raw argument artifact ${name}`);
    }
    return artifact.raw.data;
  };
  const out = new Map<
    string,
    { spec: IStepSpec; runtime: string; bootstrap: string; command: string[] }
  >();
  for (const t of templates) {
    if (!t.container) {
      continue;
    }
    const raw = (name: string): string => {
      const artifact = t.inputs?.artifacts?.find(a => a.name === name);
      if (!artifact?.raw) {
        throw new Error(`template ${t.name} has no raw artifact ${name}`);
      }
      return artifact.raw.data;
    };
    out.set(t.name, {
      spec: JSON.parse(decodeBase64(raw('chard-spec'))) as IStepSpec,
      runtime: decodeBase64(argument('chard-runtime')),
      bootstrap: argument('chard-bootstrap'),
      command: t.container.command
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

/** The step specs a KFP pipeline spec carries, by executor name (steps only). */
export function kfpPayloads(pipelineSpec: unknown): Map<string, IKfpPayload> {
  const executors = ((pipelineSpec as Json).deploymentSpec as Json).executors as Record<
    string,
    { container: { args: string[]; command: string[] } }
  >;
  const runtimeArgs = executors['exec-chard-runtime']?.container.args;
  if (!runtimeArgs) {
    throw new Error('the pipeline spec has no exec-chard-runtime executor');
  }
  const runtime = decodeBase64(flagValues(runtimeArgs, '--runtime-b64').join(''));
  const out = new Map<string, IKfpPayload>();
  for (const [name, executor] of Object.entries(executors)) {
    const args = executor.container.args;
    if (name === 'exec-chard-runtime') {
      continue;
    }
    out.set(name, {
      spec: JSON.parse(decodeBase64(flagValues(args, '--spec-b64').join(''))) as IStepSpec,
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
