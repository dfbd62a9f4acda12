/**
 * The bootstrap (src/runtime/bootstrap.py, embedded by the build) run with the real local Python against a small
 * stand-in runtime: saving the runtime for KFP, refusing a runtime it was not compiled with,
 * handing the runtime's exit status on, and publishing metrics to KFP only on success.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64Encode, sha256Hex } from '../../../src/core/compile/hash.js';
import {
  BOOTSTRAP_SOURCE,
  PARAM_B64_PREFIX,
  inertParameterText
} from '../../../src/core/compile/payload.js';

const PYTHON = '/usr/bin/python3';

/**
 * Writes `{"score": 0.5}` to its --metrics-file, prints its --param arguments (if any) as JSON and exits
 * with the status in the spec.
 */
const RUNTIME = `import json, sys
args = sys.argv[1:]
params = [args[i + 1] for i, a in enumerate(args) if a == "--param"]
if params:
    print(json.dumps(params, separators=(",", ":")))
spec = json.loads(args[args.index("--spec-json") + 1])
if "--metrics-file" in args:
    with open(args[args.index("--metrics-file") + 1], "w") as handle:
        json.dump({"score": 0.5}, handle)
print("ran", spec["step"])
sys.exit(spec["exit"])
`;

function bootstrap(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, ['-c', BOOTSTRAP_SOURCE, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bootstrap', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'chard-bootstrap-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const spec = (exit: number): string[] => [
    '--spec-b64',
    base64Encode(JSON.stringify({ step: 'train', exit }))
  ];

  it('saves the bootstrap and the runtime for the KFP steps, byte for byte', () => {
    const out = join(dir, 'artifact');
    const r = bootstrap([
      '--runtime-b64',
      base64Encode(RUNTIME),
      '--bootstrap-b64',
      base64Encode(BOOTSTRAP_SOURCE),
      '--save',
      out
    ]);
    expect(r.status).toBe(0);
    expect(readFileSync(join(out, 'chard_runtime.py'), 'utf8')).toBe(RUNTIME);
    expect(readFileSync(join(out, 'bootstrap.py'), 'utf8')).toBe(BOOTSTRAP_SOURCE);
  });

  it('decodes the parameter values the compilers encode (one prefix on both sides)', () => {
    const value = '{{workflow.name}} and chard:b64:x';
    const encoded = inertParameterText(value);
    expect(encoded.startsWith(PARAM_B64_PREFIX)).toBe(true);
    const r = bootstrap([
      '--runtime-b64',
      base64Encode(RUNTIME),
      ...spec(0),
      '--param',
      `note=${encoded}`,
      '--param',
      'plain=7'
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(JSON.stringify([`note=${value}`, 'plain=7']));
  });

  it('runs a saved runtime whose sha256 matches, and refuses any other', () => {
    const file = join(dir, 'chard_runtime.py');
    writeFileSync(file, RUNTIME);
    const ok = bootstrap([
      '--runtime-file',
      file,
      '--runtime-sha256',
      sha256Hex(RUNTIME),
      ...spec(0)
    ]);
    expect(ok).toMatchObject({ status: 0, stdout: 'ran train\n' });
    const other = sha256Hex('print("an older runtime")\n');
    const bad = bootstrap(['--runtime-file', file, '--runtime-sha256', other, ...spec(0)]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(
      `chard bootstrap: the runtime has sha256 ${sha256Hex(RUNTIME)}, not ${other} as ` +
        'compiled; recompile and resubmit the pipeline\n'
    );
  });

  it('gives the KFP metrics artifact its values on success only, and keeps the exit status', () => {
    const metrics = join(dir, 'outputs', 'metrics');
    const outputFile = join(dir, 'outputs', 'executor_output.json');
    mkdirSync(join(dir, 'outputs')); // as the KFP launcher prepares it
    const input = JSON.stringify({
      outputs: {
        artifacts: { metrics: { artifacts: [{ name: 'metrics', uri: 'minio://b/metrics' }] } },
        outputFile
      }
    });
    const args = (exit: number): string[] => [
      '--runtime-b64',
      base64Encode(RUNTIME),
      ...spec(exit),
      '--kfp-metrics',
      `metrics=${metrics}`,
      '--kfp-executor-input',
      input
    ];
    const failed = bootstrap(args(1));
    expect(failed.status).toBe(1);
    expect(existsSync(outputFile)).toBe(false);
    expect(bootstrap(args(0)).status).toBe(0);
    expect(JSON.parse(readFileSync(outputFile, 'utf8'))).toEqual({
      artifacts: {
        metrics: {
          artifacts: [
            {
              name: 'metrics',
              uri: 'minio://b/metrics',
              metadata: { score: 0.5, display_name: 'metrics' }
            }
          ]
        }
      }
    });
  });

  it('warns, but keeps the step successful, when the executor input is unreadable', () => {
    const r = bootstrap([
      '--runtime-b64',
      base64Encode(RUNTIME),
      ...spec(0),
      '--kfp-metrics',
      `metrics=${join(dir, 'metrics')}`,
      '--kfp-executor-input',
      '{"outputs": '
    ]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(
      /^chard bootstrap: warning: the metrics are not shown in Kubeflow Pipelines \(JSONDecodeError: /
    );
  });
});
