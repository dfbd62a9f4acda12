/**
 * Compile settings: what the caller passes (`ICompileOptions`), the notebook's typed `chard`
 * settings (`plan.pipeline.chard`, validated when the notebook was read: see ../settings.ts), and
 * the defaults, merged in that order of precedence into one validated `ISettings`. Every problem
 * with what the caller passes is a `CompileError` with a one-line message.
 */
import { RUNTIME_SOURCE } from '../generated/runtime.js';
import type { IParameter, IPlan, ParameterType, ParameterValue } from '../plan.js';
import { ACCESS_MODES, POD_GC_STRATEGIES, PULL_POLICIES } from '../settings.js';
import type { AccessMode, ImagePullPolicy, ITtlStrategy, PodGCStrategy } from '../settings.js';
import { DEFAULT_VALUE_DIGEST, VALUE_DIGESTS } from '../stepspec.js';
import type { ValueDigest } from '../stepspec.js';
import { isDnsLabel, isDnsSubdomain, isImageReference, isQuantity } from './names.js';

export type CompileTarget = 'argo' | 'kfp';

/** A plan or setting that cannot be compiled; `message` is one line naming the problem. */
export class CompileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CompileError';
  }
}

export type { AccessMode, ImagePullPolicy, ITtlStrategy, PodGCStrategy };
export { ACCESS_MODES };

/** The volume that carries marshalled values between steps (Argo target). */
export interface IMarshalVolume {
  /** Kubernetes quantity, e.g. `5Gi`. */
  size: string;
  /** Storage class; undefined means the cluster default. */
  storageClass?: string;
  accessModes: AccessMode[];
}

export interface IOwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/**
 * What the caller (CLI, server, UI) decides. Everything is optional; a setting given here wins
 * over the same setting in the notebook's `chard` metadata, which wins over the default.
 */
export interface ICompileOptions {
  /** Image for steps without an `image:` tag, overriding the notebook's image setting (`--image`). */
  image?: string;
  /** The notebook server's own image, when known: used when the notebook names no image. */
  notebookImage?: string;
  /** Last resort image (default `python:3.12-slim`). */
  defaultImage?: string;
  imagePullPolicy?: ImagePullPolicy;
  marshalVolume?: Partial<IMarshalVolume>;
  /** Retries per step after a failure (0 = none). */
  retryLimit?: number;
  /** Deadline for the whole workflow (Argo) or each step (KFP), in seconds. */
  activeDeadlineSeconds?: number;
  podGC?: PodGCStrategy;
  ttlStrategy?: ITtlStrategy;
  namespace?: string;
  serviceAccountName?: string;
  /** Explicit workflow name; default is `metadata.generateName` from the pipeline id. */
  workflowName?: string;
  /** Pipeline parameter defaults to replace; strings are parsed by the parameter's type. */
  parameters?: Record<string, ParameterValue>;
  /** Working directory of the cells: the notebook's directory inside the workspace. */
  workdir?: string;
  /** KFP caching for steps without a `cache:` tag (default false). */
  cache?: boolean;
  ownerReferences?: IOwnerReference[];
  /** The step runtime to ship (default: the embedded src/runtime/chard_runtime.py). */
  runtimeSource?: string;
  /** How saved values are verified (`--value-digest`; default "crc32"). */
  valueDigest?: ValueDigest;
}

/** Fully resolved settings, as the compilers read them. */
export interface ISettings {
  image?: string;
  notebookImage?: string;
  defaultImage: string;
  imagePullPolicy?: ImagePullPolicy;
  marshalVolume: IMarshalVolume;
  retryLimit: number;
  activeDeadlineSeconds?: number;
  podGC?: PodGCStrategy;
  ttlStrategy?: ITtlStrategy;
  namespace?: string;
  serviceAccountName?: string;
  workflowName?: string;
  workdir: string;
  cache: boolean;
  ownerReferences: IOwnerReference[];
  runtimeSource: string;
  valueDigest: ValueDigest;
  /** The plan's parameters with overrides applied, in plan order. */
  parameters: IParameter[];
}

export const DEFAULT_IMAGE = 'python:3.12-slim';
export const DEFAULT_MARSHAL_SIZE = '5Gi';

const PULL_POLICY_SET: ReadonlySet<string> = new Set(PULL_POLICIES);
const POD_GC: ReadonlySet<string> = new Set(POD_GC_STRATEGIES);

/** Check an image reference; `what` names it in the error. */
export function checkImage(image: string, what: string): string {
  if (!isImageReference(image)) {
    throw new CompileError(`${what}: ${JSON.stringify(image)} is not a valid image reference`);
  }
  return image;
}

/** Parse a parameter value given as text (CLI `--param`) by the parameter's type. */
export function parseParameterValue(
  name: string,
  type: ParameterType,
  value: ParameterValue
): ParameterValue {
  const bad = (): never => {
    throw new CompileError(
      `parameter ${name}: ${JSON.stringify(value)} is not a valid ${type} value`
    );
  };
  switch (type) {
    case 'str':
      return typeof value === 'string' ? value : bad();
    case 'bool':
      if (typeof value === 'boolean') {
        return value;
      }
      if (typeof value === 'string') {
        const lower = value.trim().toLowerCase();
        if (lower === 'true' || lower === '1') {
          return true;
        }
        if (lower === 'false' || lower === '0') {
          return false;
        }
      }
      return bad();
    case 'int': {
      const n = typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value) ? Number(value) : value;
      return typeof n === 'number' && Number.isSafeInteger(n) ? n : bad();
    }
    case 'float': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      return typeof n === 'number' && Number.isFinite(n) ? n : bad();
    }
  }
}

/** Resolve options + notebook metadata + defaults for a plan. */
export function resolveSettings(plan: IPlan, options: ICompileOptions = {}): ISettings {
  // The notebook's settings were validated when the notebook was read (settings.ts); what the
  // caller passes is checked here.
  const meta = plan.pipeline.chard;
  const pick = <T>(fromOptions: T | undefined, fromMeta: T | undefined): T | undefined =>
    fromOptions !== undefined ? fromOptions : fromMeta;

  const image = pick(options.image, meta.image);
  const marshal = {
    ...Private.defined(meta.marshalVolume ?? {}),
    ...Private.defined(options.marshalVolume ?? {})
  };
  const settings: ISettings = {
    image: image === undefined ? undefined : checkImage(image, 'image'),
    notebookImage:
      options.notebookImage === undefined
        ? undefined
        : checkImage(options.notebookImage, 'notebook server image'),
    defaultImage: checkImage(options.defaultImage ?? DEFAULT_IMAGE, 'default image'),
    imagePullPolicy: Private.oneOf(
      pick(options.imagePullPolicy, meta.imagePullPolicy),
      PULL_POLICY_SET,
      'imagePullPolicy'
    ) as ImagePullPolicy | undefined,
    marshalVolume: Private.marshalVolume(marshal),
    retryLimit: Private.count(pick(options.retryLimit, meta.retryLimit), 'retryLimit') ?? 0,
    activeDeadlineSeconds: Private.positive(
      pick(options.activeDeadlineSeconds, meta.activeDeadlineSeconds),
      'activeDeadlineSeconds'
    ),
    podGC: Private.oneOf(pick(options.podGC, meta.podGC), POD_GC, 'podGC') as
      PodGCStrategy | undefined,
    ttlStrategy: Private.ttl(pick(options.ttlStrategy, meta.ttlStrategy)),
    namespace: Private.name(pick(options.namespace, meta.namespace), isDnsLabel, 63, 'namespace'),
    serviceAccountName: Private.name(
      pick(options.serviceAccountName, meta.serviceAccountName),
      isDnsSubdomain,
      253,
      'serviceAccountName'
    ),
    workflowName: Private.name(options.workflowName, isDnsLabel, 63, 'workflow name'),
    workdir: Private.workdir(pick(options.workdir, meta.workdir) ?? ''),
    cache: pick(options.cache, meta.cache) ?? false,
    ownerReferences: (options.ownerReferences ?? []).map(Private.ownerReference),
    runtimeSource: options.runtimeSource ?? RUNTIME_SOURCE,
    valueDigest: Private.valueDigest(options.valueDigest, meta.valueDigest),
    parameters: Private.parameters(plan, options.parameters ?? {})
  };
  return settings;
}

/**
 * The integrity scheme of the values the steps save: `option` (`--value-digest`), else the
 * notebook's `chard.valueDigest`, else "crc32". For runners that need no other compile setting.
 */
export function resolveValueDigest(plan: IPlan, option?: ValueDigest): ValueDigest {
  return Private.valueDigest(option, plan.pipeline.chard.valueDigest);
}

namespace Private {
  export function valueDigest(
    fromOptions: string | undefined,
    fromMetadata: string | undefined
  ): ValueDigest {
    const value = fromOptions ?? fromMetadata ?? DEFAULT_VALUE_DIGEST;
    if (!(VALUE_DIGESTS as readonly string[]).includes(value)) {
      const where =
        fromOptions === undefined ? 'notebook metadata chard.valueDigest' : 'valueDigest';
      throw new CompileError(
        `${where} ${JSON.stringify(value)} is not one of ${VALUE_DIGESTS.join(', ')}`
      );
    }
    return value as ValueDigest;
  }

  /** Drop undefined members, so spreading does not erase earlier values. */
  export function defined<T extends object>(value: T): Partial<T> {
    const out: Partial<T> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) {
        (out as Record<string, unknown>)[k] = v;
      }
    }
    return out;
  }

  export function oneOf(
    value: string | undefined,
    allowed: ReadonlySet<string>,
    what: string
  ): string | undefined {
    if (value !== undefined && !allowed.has(value)) {
      throw new CompileError(
        `${what} ${JSON.stringify(value)} is not one of ${[...allowed].join(', ')}`
      );
    }
    return value;
  }

  export function count(value: number | undefined, what: string): number | undefined {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new CompileError(`${what} must be a whole number of at least 0, not ${value}`);
    }
    return value;
  }

  export function positive(value: number | undefined, what: string): number | undefined {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw new CompileError(`${what} must be a whole number of at least 1, not ${value}`);
    }
    return value;
  }

  /** `valid` checks the name's form and length; `max` is only named in the message. */
  export function name(
    value: string | undefined,
    valid: (name: string) => boolean,
    max: number,
    what: string
  ): string | undefined {
    if (value !== undefined && !valid(value)) {
      throw new CompileError(
        `${what} ${JSON.stringify(value)} is not a valid Kubernetes name ` +
          `(lowercase letters, digits and '-', at most ${max} characters)`
      );
    }
    return value;
  }

  export function workdir(value: string): string {
    // eslint-disable-next-line no-control-regex
    if (/[\u0000\n\r]/.test(value)) {
      throw new CompileError(`workdir ${JSON.stringify(value)} contains a control character`);
    }
    return value;
  }

  export function marshalVolume(value: Partial<IMarshalVolume>): IMarshalVolume {
    const size = value.size ?? DEFAULT_MARSHAL_SIZE;
    if (!isQuantity(size)) {
      throw new CompileError(
        `marshal volume size ${JSON.stringify(size)} is not a Kubernetes quantity such as 5Gi`
      );
    }
    const accessModes = (value.accessModes ?? ['ReadWriteOnce']) as string[];
    if (accessModes.length === 0) {
      throw new CompileError('marshal volume access modes must not be empty');
    }
    for (const mode of accessModes) {
      oneOf(mode, ACCESS_MODES, 'marshal volume access mode');
    }
    const storageClass = name(value.storageClass, isDnsSubdomain, 253, 'marshal storage class');
    const modes = [...accessModes] as AccessMode[];
    return storageClass === undefined
      ? { size, accessModes: modes }
      : { size, storageClass, accessModes: modes };
  }

  export function ttl(value: ITtlStrategy | undefined): ITtlStrategy | undefined {
    if (value === undefined) {
      return undefined;
    }
    const out: ITtlStrategy = {};
    for (const key of [
      'secondsAfterCompletion',
      'secondsAfterSuccess',
      'secondsAfterFailure'
    ] as const) {
      const v = count(value[key], `ttlStrategy.${key}`);
      if (v !== undefined) {
        out[key] = v;
      }
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  export function ownerReference(ref: IOwnerReference): IOwnerReference {
    for (const key of ['apiVersion', 'kind', 'name', 'uid'] as const) {
      if (typeof ref[key] !== 'string' || ref[key].length === 0) {
        throw new CompileError(`owner reference needs a non-empty ${key}`);
      }
    }
    return { ...ref };
  }

  export function parameters(plan: IPlan, overrides: Record<string, ParameterValue>): IParameter[] {
    const known = new Map(plan.parameters.map(p => [p.name, p]));
    for (const name of Object.keys(overrides)) {
      if (!known.has(name)) {
        const names = plan.parameters.map(p => p.name).join(', ') || 'none';
        throw new CompileError(
          `unknown pipeline parameter ${JSON.stringify(name)} (the notebook's parameters: ${names})`
        );
      }
    }
    return plan.parameters.map(p =>
      Object.prototype.hasOwnProperty.call(overrides, p.name)
        ? { ...p, value: parseParameterValue(p.name, p.type, overrides[p.name]) }
        : { ...p }
    );
  }
}

/** What a compiler returns. */
export interface ICompileResult {
  target: CompileTarget;
  /** The manifest as YAML text (byte-identical for the same plan and options). */
  text: string;
  /** SHA-256 (hex) of `text`: a deterministic content hash of the compiled manifest. */
  hash: string;
  /** The YAML documents as objects (one for Argo; KFP adds a platform document when needed). */
  documents: Record<string, unknown>[];
  /** Settings the target cannot express and ignored, one line each. */
  warnings: string[];
}
