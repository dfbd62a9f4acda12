/**
 * Notebook-level settings: Kale's `kubeflow_notebook` metadata (read as Kale writes it) and
 * Chard's own `chard` key (kept separate: Kale rejects unknown keys inside `kubeflow_notebook`).
 */
import type { IDiagnostic, IPipelineSettings, IStepResources, IVolume } from './plan.js';
import { isRecord } from './notebook.js';
import { parseCellTags } from './tags.js';
import { dnsLabel } from './names.js';
import { parseChardSettings } from './settings.js';

export const KALE_METADATA_KEY = 'kubeflow_notebook';
export const CHARD_METADATA_KEY = 'chard';

/** Volume types the targets mount (Kale's `clone` is read as `pvc`). */
const SUPPORTED_VOLUME_TYPES: ReadonlySet<string> = new Set(['pvc', 'new_pvc']);

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** Kale volumes: `{type, name, mount_point, size, size_type, annotations: [{key, value}], ...}`. */
function readVolumes(raw: unknown, diagnostics: IDiagnostic[]): IVolume[] {
  if (raw === undefined || raw === null) {
    return [];
  }
  if (!Array.isArray(raw)) {
    diagnostics.push({
      severity: 'error',
      cell: null,
      line: null,
      message: '`kubeflow_notebook.volumes` must be a list'
    });
    return [];
  }
  const volumes: IVolume[] = [];
  raw.forEach((v: unknown, i: number) => {
    if (!isRecord(v)) {
      diagnostics.push({
        severity: 'error',
        cell: null,
        line: null,
        message: `\`kubeflow_notebook.volumes[${i}]\` is not an object`
      });
      return;
    }
    const name = str(v.name);
    const mountPoint = str(v.mount_point) ?? str(v.mountPoint);
    if (!name || !mountPoint) {
      diagnostics.push({
        severity: 'error',
        cell: null,
        line: null,
        message: `\`kubeflow_notebook.volumes[${i}]\` needs a "name" and a "mount_point"`
      });
      return;
    }
    const type = str(v.type) ?? 'pvc';
    // Kale's `clone` gives the run a copy of an existing claim: to Chard that is a workspace
    // PVC, which `chard submit` snapshots and restores for the run.
    const volume: IVolume = { type: type === 'clone' ? 'pvc' : type, name, mountPoint };
    if (!SUPPORTED_VOLUME_TYPES.has(volume.type)) {
      diagnostics.push({
        severity: 'warning',
        cell: null,
        line: null,
        message:
          `\`kubeflow_notebook.volumes[${i}]\` (${name}) has type ${JSON.stringify(type)}, which Chard does not ` +
          'mount (it mounts "pvc", "clone" and "new_pvc" volumes); the pipeline runs without it'
      });
      return;
    }
    if (v.size !== undefined && v.size !== null && v.size !== '') {
      volume.size = `${String(v.size)}${str(v.size_type) ?? ''}`;
    }
    const annotations: Record<string, string> = {};
    if (Array.isArray(v.annotations)) {
      for (const a of v.annotations) {
        if (isRecord(a) && str(a.key)) {
          annotations[str(a.key)!] = typeof a.value === 'string' ? a.value : String(a.value ?? '');
        }
      }
    }
    if (Object.keys(annotations).length > 0) {
      volume.annotations = annotations;
    }
    if (str(v.storage_class_name)) {
      volume.storageClass = str(v.storage_class_name);
    }
    if (typeof v.read_only === 'boolean') {
      volume.readOnly = v.read_only;
    }
    volumes.push(volume);
  });
  return volumes;
}

/** Read the pipeline settings; `fileName` gives the default pipeline name. */
export function readPipelineSettings(
  metadata: Record<string, unknown>,
  fileName: string,
  diagnostics: IDiagnostic[]
): IPipelineSettings {
  const kale = isRecord(metadata[KALE_METADATA_KEY]) ? metadata[KALE_METADATA_KEY] : {};
  const chard = parseChardSettings(metadata[CHARD_METADATA_KEY], diagnostics);
  const stem = fileName.replace(/^.*[\\/]/, '').replace(/\.ipynb$/i, '');
  const name = chard.pipelineName ?? str(kale.pipeline_name) ?? (stem || 'pipeline');
  const experiment =
    chard.experimentName ??
    str(kale.experiment_name) ??
    (isRecord(kale.experiment) ? str(kale.experiment.name) : undefined) ??
    'Default';
  return {
    name,
    id: dnsLabel(name, 40, 'pipeline'),
    description: chard.pipelineDescription ?? str(kale.pipeline_description) ?? '',
    experiment,
    image: chard.image ?? str(kale.docker_image) ?? str(kale.base_image),
    volumes: readVolumes(kale.volumes, diagnostics),
    autosnapshot: kale.autosnapshot === true,
    chard
  };
}

/**
 * Kale's `steps_defaults`: a list of tag strings (`label:k:v`, `limit:cpu:1`, ...) or the
 * dict form Kale's backend produces ({labels, annotations, limits}). Applied under each
 * step's own tags.
 */
export function readStepDefaults(
  metadata: Record<string, unknown>,
  diagnostics: IDiagnostic[]
): IStepResources {
  const kale = isRecord(metadata[KALE_METADATA_KEY]) ? metadata[KALE_METADATA_KEY] : {};
  const raw = kale.steps_defaults;
  const defaults: IStepResources = { limits: {}, labels: {}, annotations: {}, secrets: [] };
  if (Array.isArray(raw)) {
    const tags = parseCellTags(raw.filter((t): t is string => typeof t === 'string'));
    for (const p of tags.problems) {
      diagnostics.push({
        severity: 'error',
        cell: null,
        line: null,
        message: `steps_defaults: \`${p.tag}\`: ${p.message}`
      });
    }
    Object.assign(defaults, {
      limits: tags.limits,
      labels: tags.labels,
      annotations: tags.annotations,
      secrets: tags.secrets,
      image: tags.image,
      cache: tags.cache
    });
  } else if (isRecord(raw)) {
    for (const key of ['limits', 'labels', 'annotations'] as const) {
      const section = raw[key];
      if (isRecord(section)) {
        for (const [k, v] of Object.entries(section)) {
          defaults[key][k] = String(v);
        }
      }
    }
  }
  return defaults;
}
