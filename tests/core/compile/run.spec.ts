/**
 * The compiled manifests actually run: each step's container command is executed with the real
 * local Python (Debian's /usr/bin/python3 with numpy, pandas, scikit-learn) and the real step
 * runtime, doing only what the orchestrator would do (Argo: write the raw artifacts to their
 * paths and substitute `{{workflow.parameters.X}}`; KFP: run the tasks in order, resolve the
 * `{{$...}}` placeholders and hand the executor input to `{{$}}`, as the KFP launcher does).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeNotebook } from '../../../src/core/analyze.js';
import { ArgoPaths, compileArgo } from '../../../src/core/compile/argo.js';
import { KFP_DATA_DIR, KFP_RUNTIME_TASK, compileKfp } from '../../../src/core/compile/kfp.js';
import type { IPlan } from '../../../src/core/plan.js';
import { makeNotebook } from '../fixtures.js';
import { argoStepRuns } from './support.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PYTHON = '/usr/bin/python3';

const notebook = makeNotebook([
  {
    tags: ['imports'],
    src: 'import json\nimport numpy as np\nimport pandas as pd\nfrom sklearn.linear_model import LinearRegression'
  },
  {
    tags: ['functions'],
    src:
      'class Box:\n    def __init__(self, v):\n        self.v = v\n' +
      '    def __eq__(self, other):\n        return isinstance(other, Box) and other.v == self.v\n\n' +
      'def double(x):\n    return 2 * x'
  },
  { tags: ['pipeline-parameters'], src: 'label = "{{workflow.name}}"\nscale = 2.5\nflag = True' },
  {
    tags: ['step:make "data"; rm -rf /'],
    src:
      'arr = np.arange(12, dtype=np.float64).reshape(3, 4) * scale\n' +
      'df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "{{workflow.name}}"]})\n' +
      'model = LinearRegression().fit(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]))\n' +
      'info = {"label": label, "yaml": "a: b\\n---\\nkind: Secret", "flag": flag}\n' +
      'fn = double\n' +
      'box = Box([1, 2])'
  },
  {
    tags: ['step:check'],
    src:
      'checks = {\n' +
      '    "arr": bool((arr == np.arange(12, dtype=np.float64).reshape(3, 4) * 2.5).all()),\n' +
      '    "df": df.equals(pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "{{workflow.name}}"]})),\n' +
      '    "model": abs(float(model.predict(np.array([[3.0]]))[0]) - 7.0) < 1e-9,\n' +
      '    "info": info == {"label": "{{workflow.name}}", "yaml": "a: b\\n---\\nkind: Secret", "flag": True},\n' +
      '    "fn": fn(21) == 42,\n' +
      '    "box": box == Box([1, 2]),\n' +
      '}\n' +
      'print("CHECKS " + json.dumps({"checks": checks, "label": label}))\n' +
      'score = sum(checks.values()) / len(checks)\n' +
      'note = label'
  },
  { tags: ['pipeline-metrics'], src: 'print(score)\nprint(note)' }
]);

function pythonAvailable(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import numpy, pandas, sklearn'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function checksFrom(stdout: string): { checks: Record<string, boolean>; label: string } {
  const line = stdout.split('\n').find(l => l.startsWith('CHECKS '));
  if (!line) {
    throw new Error(`no CHECKS line in:\n${stdout}`);
  }
  return JSON.parse(line.slice('CHECKS '.length)) as {
    checks: Record<string, boolean>;
    label: string;
  };
}

const ALL_TRUE = { arr: true, df: true, model: true, info: true, fn: true, box: true };
/** The pipeline-metrics values the check step records. */
const METRICS = { note: '{{workflow.name}}', score: 1 };

/**
 * Run an Argo Workflow's steps in plan order as Argo would (`{{workflow.parameters.X}}`
 * substituted), in `root`; returns the last step's stdout.
 */
function runArgo(workflow: Json, plan: IPlan, root: string): string {
  const args = new Map<string, string>(
    (workflow.spec.arguments.parameters as { name: string; value: string }[]).map(p => [
      p.name,
      p.value
    ])
  );
  const data = join(root, 'data');
  mkdirSync(data);
  let stdout = '';
  const runs = argoStepRuns(workflow);
  expect(runs.map(r => r.task)).toEqual(plan.steps.map(s => s.id));
  for (const run of runs) {
    const dir = join(root, run.task);
    mkdirSync(dir);
    const paths = new Map<string, string>([
      [ArgoPaths.DATA, data],
      [ArgoPaths.METRICS, join(dir, 'metrics.json')]
    ]);
    const argv = run.command.map(arg =>
      (paths.get(arg) ?? arg).replace(/\{\{workflow\.parameters\.([A-Za-z0-9_-]+)\}\}/g, (_, n) =>
        String(args.get(n))
      )
    );
    expect(argv[0]).toBe('python3');
    stdout = execFileSync(PYTHON, argv.slice(1), {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe']
    });
  }
  return stdout;
}

describe('compiled steps run with the real runtime and local Python', () => {
  let root: string;
  let plan: IPlan;

  beforeAll(() => {
    if (!pythonAvailable()) {
      throw new Error(`${PYTHON} with numpy, pandas and scikit-learn is needed for this test`);
    }
    plan = analyzeNotebook(notebook, { fileName: 'values.ipynb' });
    expect(plan.diagnostics.filter(d => d.severity === 'error')).toEqual([]);
    expect(plan.steps.map(s => s.name)).toEqual(['make "data"; rm -rf /', 'check']);
  });
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'chard-compile-run-'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('argo: every value arrives in the consumer as the producer had it', () => {
    const stdout = runArgo(compileArgo(plan).documents[0] as Json, plan, root);
    const result = checksFrom(stdout);
    expect(result.checks).toEqual(ALL_TRUE);
    expect(result.label).toBe('{{workflow.name}}');
    // What Argo reads into the step's `metrics` output parameter.
    const check = plan.steps[1].id;
    expect(JSON.parse(readFileSync(join(root, check, 'metrics.json'), 'utf8'))).toEqual(METRICS);
  });

  it('argo with the sha256 value digest: each manifest holds the sha256 of its value file', () => {
    const workflow = compileArgo(plan, { valueDigest: 'sha256' }).documents[0] as Json;
    const stdout = runArgo(workflow, plan, root);
    expect(checksFrom(stdout).checks).toEqual(ALL_TRUE);
    const producer = join(root, 'data', plan.steps[0].id);
    const names = readdirSync(producer).sort();
    expect(names).toEqual(['arr', 'box', 'df', 'fn', 'info', 'model']);
    for (const name of names) {
      const manifest = JSON.parse(readFileSync(join(producer, name, 'manifest.json'), 'utf8'));
      const bytes = readFileSync(join(producer, name, manifest.file));
      expect([name, manifest.hash, manifest.sha256, manifest.chunks]).toEqual([
        name,
        'sha256',
        createHash('sha256').update(bytes).digest('hex'),
        undefined
      ]);
    }
  });

  it('kfp: the runtime and every value travel as artifacts and arrive unchanged', () => {
    const spec = compileKfp(plan).documents[0] as Json;
    const defaults = spec.root.inputDefinitions.parameters as Record<
      string,
      { defaultValue: unknown }
    >;
    // KFP's executor input as the launcher (and kfp.local) hands it over: parameter values,
    // input artifacts with their producers' URIs, output artifacts, the executor output file.
    // URIs are local paths here (as in kfp.local); the bootstrap maps minio:// etc. as KFP does.
    const uriOf = (task: string, name: string): string => join(root, task, name);
    const executorInput = (task: string, taskSpec: Json, outputs: string[]): string =>
      JSON.stringify({
        inputs: {
          parameterValues: Object.fromEntries(
            Object.entries(
              (taskSpec.inputs?.parameters ?? {}) as Record<
                string,
                { componentInputParameter?: string; runtimeValue?: { constant: unknown } }
              >
            ).map(([n, p]) => [
              n,
              p.componentInputParameter !== undefined
                ? defaults[p.componentInputParameter].defaultValue
                : p.runtimeValue?.constant
            ])
          ),
          artifacts: Object.fromEntries(
            Object.entries(
              (taskSpec.inputs?.artifacts ?? {}) as Record<
                string,
                { taskOutputArtifact: { producerTask: string; outputArtifactKey: string } }
              >
            ).map(([n, a]) => [
              n,
              {
                artifacts: [
                  {
                    name: n,
                    uri: uriOf(
                      a.taskOutputArtifact.producerTask,
                      a.taskOutputArtifact.outputArtifactKey
                    )
                  }
                ]
              }
            ])
          )
        },
        outputs: {
          artifacts: Object.fromEntries(
            outputs.map(n => [n, { artifacts: [{ name: n, uri: uriOf(task, n) }] }])
          ),
          outputFile: join(root, task, 'executor_output.json')
        }
      });
    let stdout = '';
    // The runtime task first (every step depends on it), then the steps in plan order.
    for (const id of [KFP_RUNTIME_TASK, ...plan.steps.map(s => s.id)]) {
      const task = spec.root.dag.tasks[id] as Json;
      const component = spec.components[task.componentRef.name] as Json;
      const container = spec.deploymentSpec.executors[component.executorLabel].container as Json;
      expect(task.dependentTasks ?? []).toEqual(
        id === KFP_RUNTIME_TASK ? [] : expect.arrayContaining([KFP_RUNTIME_TASK])
      );
      const producers = (task.inputs?.artifacts ?? {}) as Record<
        string,
        { taskOutputArtifact: { producerTask: string; outputArtifactKey: string } }
      >;
      const outputs = Object.keys(component.outputDefinitions?.artifacts ?? {});
      const resolve = (arg: string): string =>
        arg === '{{$}}'
          ? executorInput(id, task, outputs)
          : arg === KFP_DATA_DIR
            ? join(root, 'data')
            : arg
                .replace(/\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}/g, (_, n: string) =>
                  String(defaults[n].defaultValue)
                )
                .replace(/\{\{\$\.inputs\.artifacts\['([^']+)'\]\.path\}\}/g, (_, n: string) => {
                  const src = producers[n].taskOutputArtifact;
                  return join(root, src.producerTask, src.outputArtifactKey);
                })
                .replace(/\{\{\$\.outputs\.artifacts\['([^']+)'\]\.path\}\}/g, (_, n: string) =>
                  join(root, id, n)
                );
      mkdirSync(join(root, id), { recursive: true });
      const argv = [...(container.command as string[]), ...(container.args as string[])].map(
        resolve
      );
      expect(argv[0]).toBe('python3');
      stdout = execFileSync(PYTHON, argv.slice(1), {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TMPDIR: root }
      });
    }
    const result = checksFrom(stdout);
    expect(result.checks).toEqual(ALL_TRUE);
    expect(result.label).toBe('{{workflow.name}}');
    // The metrics artifact holds the values; the executor output gives them to KFP as the
    // artifact's metadata, which the KFP UI lists as scalar metrics.
    const check = plan.steps[1].id;
    expect(JSON.parse(readFileSync(join(root, check, 'metrics'), 'utf8'))).toEqual(METRICS);
    expect(JSON.parse(readFileSync(join(root, check, 'executor_output.json'), 'utf8'))).toEqual({
      artifacts: {
        metrics: {
          artifacts: [
            {
              name: 'metrics',
              uri: uriOf(check, 'metrics'),
              metadata: { ...METRICS, display_name: 'metrics' }
            }
          ]
        }
      }
    });
  });
});
