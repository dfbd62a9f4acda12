/** Compile settings (src/core/compile/options.ts): precedence and one-line errors. */
import {
  CompileError,
  type ICompileOptions,
  resolveSettings,
  resolveValueDigest
} from '../../../src/core/compile/options.js';
import type { PodGCStrategy } from '../../../src/core/compile/options.js';
import type { IPlan } from '../../../src/core/plan.js';
import type { ValueDigest } from '../../../src/core/stepspec.js';
import { loadPlan } from './support.js';

function withMetadata(chard: IPlan['pipeline']['chard']): IPlan {
  const plan = loadPlan('classes');
  return { ...plan, pipeline: { ...plan.pipeline, chard } };
}

function problem(chard: IPlan['pipeline']['chard'], options: ICompileOptions = {}): string {
  try {
    resolveSettings(withMetadata(chard), options);
  } catch (error) {
    expect(error).toBeInstanceOf(CompileError);
    return (error as Error).message;
  }
  throw new Error('no CompileError');
}

describe('compile settings', () => {
  it('takes options over the notebook metadata over the defaults', () => {
    const plan = withMetadata({ retryLimit: 3, namespace: 'team-a', cache: true });
    const fromMetadata = resolveSettings(plan);
    expect(fromMetadata).toMatchObject({ retryLimit: 3, namespace: 'team-a', cache: true });
    expect(fromMetadata.marshalVolume).toEqual({ size: '5Gi', accessModes: ['ReadWriteOnce'] });
    const fromOptions = resolveSettings(plan, { retryLimit: 0, namespace: 'team-b' });
    expect(fromOptions).toMatchObject({ retryLimit: 0, namespace: 'team-b', cache: true });
  });

  it("names the option and the bad value in one line (the notebook's are checked when it is read)", () => {
    expect(problem({}, { retryLimit: -1 })).toBe(
      'retryLimit must be a whole number of at least 0, not -1'
    );
    expect(problem({}, { ttlStrategy: { secondsAfterSuccess: -1 } })).toBe(
      'ttlStrategy.secondsAfterSuccess must be a whole number of at least 0, not -1'
    );
    expect(problem({}, { marshalVolume: { accessModes: [] } })).toBe(
      'marshal volume access modes must not be empty'
    );
    expect(problem({}, { activeDeadlineSeconds: 0 })).toBe(
      'activeDeadlineSeconds must be a whole number of at least 1, not 0'
    );
  });

  it('checks Kubernetes names, quantities and images wherever they come from', () => {
    expect(problem({}, { namespace: 'Team_A' })).toBe(
      `namespace "Team_A" is not a valid Kubernetes name (lowercase letters, digits and '-', ` +
        'at most 63 characters)'
    );
    expect(problem({}, { serviceAccountName: 'x'.repeat(254) })).toContain(
      'at most 253 characters'
    );
    expect(problem({}, { marshalVolume: { size: '5 GB' } })).toBe(
      'marshal volume size "5 GB" is not a Kubernetes quantity such as 5Gi'
    );
    expect(problem({}, { image: 'python:3.12 ; rm -rf /' })).toBe(
      'image: "python:3.12 ; rm -rf /" is not a valid image reference'
    );
    expect(problem({}, { podGC: 'Never' as PodGCStrategy })).toBe(
      'podGC "Never" is not one of OnPodCompletion, OnPodSuccess, OnWorkflowCompletion, ' +
        'OnWorkflowSuccess'
    );
  });

  it('takes the value digest from the option, else chard.valueDigest, else crc32', () => {
    expect(resolveSettings(withMetadata({})).valueDigest).toBe('crc32');
    expect(resolveSettings(withMetadata({ valueDigest: 'sha256' })).valueDigest).toBe('sha256');
    expect(
      resolveSettings(withMetadata({ valueDigest: 'sha256' }), { valueDigest: 'crc32' }).valueDigest
    ).toBe('crc32');
    expect(resolveValueDigest(withMetadata({ valueDigest: 'sha256' }))).toBe('sha256');
    expect(resolveValueDigest(withMetadata({ valueDigest: 'sha256' }), 'crc32')).toBe('crc32');
    expect(resolveValueDigest(withMetadata({}))).toBe('crc32');
    expect(problem({}, { valueDigest: 'md5' as ValueDigest })).toBe(
      'valueDigest "md5" is not one of crc32, sha256'
    );
    expect(() => resolveValueDigest(withMetadata({}), 'SHA256' as ValueDigest)).toThrow(
      'valueDigest "SHA256" is not one of crc32, sha256'
    );
  });

  it('parses parameter overrides by type and refuses unknown ones', () => {
    const plan = loadPlan('churn');
    const settings = resolveSettings(plan, { parameters: { SEED: '7', TEST_SIZE: '0.5' } });
    expect(settings.parameters.map(p => [p.name, p.value])).toEqual([
      ['TEST_SIZE', 0.5],
      ['SEED', 7],
      ['N_TREES', 100]
    ]);
    expect(() => resolveSettings(plan, { parameters: { SEED: 'seven' } })).toThrow(
      'parameter SEED: "seven" is not a valid int value'
    );
    expect(() => resolveSettings(plan, { parameters: { EPOCHS: 3 } })).toThrow(
      'unknown pipeline parameter "EPOCHS" (the notebook\'s parameters: TEST_SIZE, SEED, N_TREES)'
    );
  });
});
