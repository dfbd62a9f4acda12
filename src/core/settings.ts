/**
 * Chard's own notebook settings (the notebook metadata key `chard`), parsed once into a typed
 * `IChardSettings`. Every key has one spelling, camelCase like the compile options and Argo's
 * own fields; the snake_case spellings earlier versions read (`pipeline_name`, `snapshot_class`,
 * `kfp_endpoint`, ...) are still read, with a warning naming the key to use. Every invalid value
 * is an error diagnostic on the notebook (cell null) and is left out of the typed object; an
 * unknown key is a warning. Nothing downstream reads the raw metadata.
 *
 * A small table of keys with one parser each rather than a schema library: the table is the
 * documentation (the README's table lists the same keys), the messages name the key as the user
 * wrote it, aliases and deprecations are one column, and core stays free of dependencies that
 * would ship to the browser (ajv compiles validators with `new Function`, which a strict CSP
 * refuses).
 */
import type { IDiagnostic } from './plan.js';
import { isRecord } from './notebook.js';
import { isDnsLabel, isDnsSubdomain, isImageReference, isQuantity } from './compile/names.js';
import type { ValueDigest } from './stepspec.js';
import { VALUE_DIGESTS } from './stepspec.js';
import type { RunBackend } from './runs.js';

export type ImagePullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export type AccessMode = 'ReadWriteOnce' | 'ReadOnlyMany' | 'ReadWriteMany' | 'ReadWriteOncePod';
export type PodGCStrategy =
  'OnPodCompletion' | 'OnPodSuccess' | 'OnWorkflowCompletion' | 'OnWorkflowSuccess';

/** The places a notebook's pipeline can run. */
export const RUN_TARGETS: readonly RunBackend[] = ['local', 'argo', 'kfp'];
export const PULL_POLICIES: readonly ImagePullPolicy[] = ['Always', 'IfNotPresent', 'Never'];
export const ACCESS_MODES: ReadonlySet<string> = new Set<AccessMode>([
  'ReadWriteOnce',
  'ReadOnlyMany',
  'ReadWriteMany',
  'ReadWriteOncePod'
]);
export const POD_GC_STRATEGIES: readonly PodGCStrategy[] = [
  'OnPodCompletion',
  'OnPodSuccess',
  'OnWorkflowCompletion',
  'OnWorkflowSuccess'
];

export interface ITtlStrategy {
  secondsAfterCompletion?: number;
  secondsAfterSuccess?: number;
  secondsAfterFailure?: number;
}

/** The volume that carries values between steps on Argo, as the notebook sets it. */
export interface IMarshalVolumeSettings {
  size?: string;
  storageClass?: string;
  accessModes?: AccessMode[];
}

/** The notebook's `chard` metadata, validated. Absent members are unset (defaults apply). */
export interface IChardSettings {
  /** Pipeline name, over Kale's `pipeline_name`. */
  pipelineName?: string;
  /** Kubeflow experiment, over Kale's `experiment_name`. */
  experimentName?: string;
  /** Pipeline description, over Kale's `pipeline_description`. */
  pipelineDescription?: string;
  /** Default step image, over Kale's `docker_image`. */
  image?: string;
  /** false: order steps by `prev:` tags only, as Kale does. */
  inferDependencies?: boolean;
  /** How the values passed between steps are verified. */
  valueDigest?: ValueDigest;
  imagePullPolicy?: ImagePullPolicy;
  marshalVolume?: IMarshalVolumeSettings;
  /** Retries per step after a failure. */
  retryLimit?: number;
  /** Deadline of the workflow (Argo) or of each step (KFP), in seconds (at least 1). */
  activeDeadlineSeconds?: number;
  podGC?: PodGCStrategy;
  ttlStrategy?: ITtlStrategy;
  namespace?: string;
  serviceAccountName?: string;
  /** Working directory of the cells inside the workspace. */
  workdir?: string;
  /** KFP caching of steps without a `cache:` tag. */
  cache?: boolean;
  /** Paths (gitignore-style patterns) a local run's workspace snapshot leaves out. */
  snapshotExclude?: string[];
  /** Largest workspace snapshot a local run takes, in bytes (written as `2GiB`, `500MB`, ...). */
  snapshotMaxSize?: number;
  /** VolumeSnapshotClass of the snapshots `chard submit` takes. */
  snapshotClass?: string;
  /** Kubeflow Pipelines API of `chard submit --via kfp`. */
  kfpEndpoint?: string;
  /** Where "Run as pipeline" runs: this machine (`local`, the default), Argo or KFP. */
  target?: RunBackend;
  /** The kubeconfig context of an Argo run. */
  kubeContext?: string;
}

/** Parse a size such as `2GiB`, `500M`, `1024` (bytes); null when it is not one. */
export function parseSize(text: string): number | null {
  const match = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(text);
  if (!match) {
    return null;
  }
  const power = ['', 'k', 'm', 'g', 't'].indexOf(match[2].toLowerCase());
  const base = match[3].toLowerCase().startsWith('i') || match[2] === '' ? 1024 : 1000;
  return Math.round(Number(match[1]) * base ** power);
}

/** One documented key: its spelling, its deprecated one, and its parser. */
export interface IChardKey {
  key: keyof IChardSettings;
  /** The spelling earlier versions read (still read, with a warning). */
  deprecated?: string;
  /** The type and meaning, one line (the README's table says the same). */
  doc: string;
}

/** Every key of the `chard` metadata, in the README's order. */
export const CHARD_KEYS: readonly IChardKey[] = [
  { key: 'pipelineName', deprecated: 'pipeline_name', doc: 'string: the pipeline name' },
  { key: 'experimentName', deprecated: 'experiment_name', doc: 'string: the KFP experiment' },
  {
    key: 'pipelineDescription',
    deprecated: 'pipeline_description',
    doc: 'string: the pipeline description'
  },
  { key: 'image', doc: 'string: the default step image' },
  {
    key: 'inferDependencies',
    deprecated: 'infer_dependencies',
    doc: 'boolean: false orders steps by prev: tags only'
  },
  { key: 'valueDigest', doc: '"crc32" or "sha256"' },
  { key: 'imagePullPolicy', doc: 'Always, IfNotPresent, Never' },
  {
    key: 'marshalVolume',
    doc: '{size, storageClass, accessModes}: the Argo data volume'
  },
  { key: 'retryLimit', doc: 'whole number >= 0' },
  {
    key: 'activeDeadlineSeconds',
    doc: 'whole number >= 1'
  },
  { key: 'podGC', doc: 'an Argo podGC strategy' },
  { key: 'ttlStrategy', doc: 'an Argo ttlStrategy' },
  { key: 'namespace', doc: 'a Kubernetes namespace' },
  { key: 'serviceAccountName', doc: 'a service account' },
  { key: 'workdir', doc: 'the working directory of the cells' },
  { key: 'cache', doc: 'boolean: KFP caching' },
  {
    key: 'snapshotExclude',
    deprecated: 'snapshot_exclude',
    doc: 'list of patterns a local snapshot leaves out'
  },
  {
    key: 'snapshotMaxSize',
    deprecated: 'snapshot_max_size',
    doc: 'size such as "2GiB": the largest local snapshot'
  },
  { key: 'snapshotClass', deprecated: 'snapshot_class', doc: 'a VolumeSnapshotClass' },
  { key: 'kfpEndpoint', deprecated: 'kfp_endpoint', doc: 'URL of the KFP API' },
  { key: 'target', doc: '"local", "argo" or "kfp": where Run as pipeline runs' },
  { key: 'kubeContext', doc: 'the kubeconfig context of an Argo run' }
];

/**
 * Read the `chard` metadata into typed settings; every problem is pushed on `diagnostics`
 * (notebook-wide). `raw` that is not an object is itself an error.
 */
export function parseChardSettings(raw: unknown, diagnostics: IDiagnostic[]): IChardSettings {
  const settings: IChardSettings = {};
  if (raw === undefined || raw === null) {
    return settings;
  }
  const report = (severity: IDiagnostic['severity'], message: string): void => {
    diagnostics.push({ severity, cell: null, line: null, message });
  };
  if (!isRecord(raw)) {
    report('error', `notebook metadata \`chard\` must be an object, not ${Private.show(raw)}`);
    return settings;
  }
  const byName = new Map<string, IChardKey>();
  for (const entry of CHARD_KEYS) {
    byName.set(entry.key, entry);
    if (entry.deprecated !== undefined) {
      byName.set(entry.deprecated, entry);
    }
  }
  for (const [name, value] of Object.entries(raw)) {
    const entry = byName.get(name);
    if (entry === undefined) {
      const near = Private.nearest(
        name,
        CHARD_KEYS.map(k => k.key)
      );
      report(
        'warning',
        `notebook metadata \`chard.${name}\` is not a Chard setting; it is ignored` +
          (near ? ` (did you mean \`${near}\`?)` : '')
      );
      continue;
    }
    if (name !== entry.key) {
      if (Object.prototype.hasOwnProperty.call(raw, entry.key)) {
        report(
          'warning',
          `notebook metadata \`chard.${name}\` is an old spelling of \`chard.${entry.key}\`, ` +
            `which is also set and wins; remove \`${name}\``
        );
        continue;
      }
      report(
        'warning',
        `notebook metadata \`chard.${name}\` is deprecated: rename it to \`chard.${entry.key}\``
      );
    }
    if (value === undefined || value === null) {
      continue;
    }
    const problems: string[] = [];
    const parsed = Private.PARSERS[entry.key](value, `chard.${name}`, problems);
    for (const problem of problems) {
      report('error', `notebook metadata ${problem}`);
    }
    if (parsed !== undefined && problems.length === 0) {
      (settings as Record<string, unknown>)[entry.key] = parsed;
    }
  }
  return settings;
}

namespace Private {
  type Parser = (value: unknown, path: string, problems: string[]) => unknown;

  export function show(value: unknown): string {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
  }

  function bad(problems: string[], path: string, expected: string, value: unknown): undefined {
    problems.push(`\`${path}\` must be ${expected}, not ${show(value)}`);
    return undefined;
  }

  function text(check?: (v: string) => boolean, expected = 'a non-empty string'): Parser {
    return (value, path, problems) =>
      typeof value === 'string' && value.trim() !== '' && (check === undefined || check(value))
        ? value.trim()
        : bad(problems, path, expected, value);
  }

  function oneOf(allowed: readonly string[]): Parser {
    return text(v => allowed.includes(v), `one of ${allowed.join(', ')}`);
  }

  function whole(min: number): Parser {
    return (value, path, problems) =>
      typeof value === 'number' && Number.isSafeInteger(value) && value >= min
        ? value
        : bad(problems, path, `a whole number of at least ${min}`, value);
  }

  const boolean: Parser = (value, path, problems) =>
    typeof value === 'boolean' ? value : bad(problems, path, 'true or false', value);

  /** An object with the given members, each optional; unknown members are problems. */
  function object(members: Record<string, Parser>): Parser {
    return (value, path, problems) => {
      if (!isRecord(value)) {
        return bad(problems, path, 'an object', value);
      }
      const out: Record<string, unknown> = {};
      for (const [name, member] of Object.entries(value)) {
        const parse = members[name];
        if (parse === undefined) {
          problems.push(
            `\`${path}.${name}\` is not a setting (known: ${Object.keys(members).join(', ')})`
          );
        } else if (member !== undefined && member !== null) {
          const v = parse(member, `${path}.${name}`, problems);
          if (v !== undefined) {
            out[name] = v;
          }
        }
      }
      return out;
    };
  }

  const kubernetesName = (valid: (v: string) => boolean, max: number): Parser =>
    text(valid, `a Kubernetes name (lowercase letters, digits and '-', at most ${max} characters)`);

  const accessModes: Parser = (value, path, problems) =>
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(m => typeof m === 'string' && ACCESS_MODES.has(m))
      ? [...(value as string[])]
      : bad(problems, path, `a non-empty list of ${[...ACCESS_MODES].join(', ')}`, value);

  const patterns: Parser = (value, path, problems) =>
    Array.isArray(value) && value.every(p => typeof p === 'string')
      ? [...(value as string[])]
      : bad(problems, path, 'a list of strings', value);

  const size: Parser = (value, path, problems) => {
    const bytes =
      typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
        ? value
        : typeof value === 'string'
          ? parseSize(value)
          : null;
    return bytes === null ? bad(problems, path, 'a size such as "2GiB" or "500MB"', value) : bytes;
  };

  const seconds = whole(0);

  export const PARSERS: Record<keyof IChardSettings, Parser> = {
    pipelineName: text(),
    experimentName: text(),
    pipelineDescription: (value, path, problems) =>
      typeof value === 'string' ? value.trim() : bad(problems, path, 'a string', value),
    image: text(isImageReference, 'an image reference such as python:3.12'),
    inferDependencies: boolean,
    valueDigest: oneOf(VALUE_DIGESTS),
    imagePullPolicy: oneOf(PULL_POLICIES),
    marshalVolume: object({
      size: text(isQuantity, 'a Kubernetes quantity such as 5Gi'),
      storageClass: kubernetesName(isDnsSubdomain, 253),
      accessModes
    }),
    retryLimit: whole(0),
    activeDeadlineSeconds: whole(1),
    podGC: oneOf(POD_GC_STRATEGIES),
    ttlStrategy: object({
      secondsAfterCompletion: seconds,
      secondsAfterSuccess: seconds,
      secondsAfterFailure: seconds
    }),
    namespace: kubernetesName(isDnsLabel, 63),
    serviceAccountName: kubernetesName(isDnsSubdomain, 253),
    workdir: (value, path, problems) =>
      // eslint-disable-next-line no-control-regex
      typeof value === 'string' && !/[\u0000\n\r]/.test(value)
        ? value
        : bad(problems, path, 'a path without control characters', value),
    cache: boolean,
    snapshotExclude: patterns,
    snapshotMaxSize: size,
    snapshotClass: kubernetesName(isDnsSubdomain, 253),
    kfpEndpoint: text(v => /^https?:\/\/\S+$/.test(v), 'an http(s) URL'),
    target: oneOf(RUN_TARGETS),
    kubeContext: text()
  };

  /** The known key closest to `name` (same letters ignoring case and `_`), if any. */
  export function nearest(name: string, keys: readonly string[]): string | undefined {
    const fold = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');
    return keys.find(k => fold(k) === fold(name));
  }
}
