/**
 * The pipeline's settings as the sidebar edits them, and how an edit is written: Kale's keys
 * in `kubeflow_notebook` (so Kale still opens the notebook) and Chard's typed `chard` keys
 * (`IChardSettings`) where Chard has its own. A Chard override of a Kale field
 * (`chard.pipelineName` over `pipeline_name`, ...) is written too when the notebook has one,
 * so the value shown is the value used. Keys neither of them owns are kept. No DOM here.
 */
import { CHARD_METADATA_KEY, KALE_METADATA_KEY } from '../core/metadata.js';
import { isRecord } from '../core/notebook.js';
import type { IPipelineSettings, IPlan } from '../core/plan.js';
import type { IChardSettings } from '../core/settings.js';

/** A workspace volume row of the form (Kale's volume fields). */
export interface IVolumeRow {
  type: 'pvc' | 'new_pvc';
  name: string;
  mountPoint: string;
  /** e.g. `5Gi`; empty for an existing claim. */
  size: string;
}

export interface IPipelineForm {
  name: string;
  description: string;
  experiment: string;
  image: string;
  volumes: IVolumeRow[];
  /** Kale's `autosnapshot`: snapshot the workspace volumes before a cluster run. */
  snapshot: boolean;
  /** `chard.snapshotClass`: the VolumeSnapshotClass (empty: the cluster's default). */
  snapshotClass: string;
}

/** What the settings are written through (`INotebookModel` satisfies it). */
export interface IMetadataModel {
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: unknown): void;
}

/** The form's values from the plan's typed settings. */
export function pipelineForm(pipeline: IPipelineSettings): IPipelineForm {
  return {
    name: pipeline.name,
    description: pipeline.description,
    experiment: pipeline.experiment,
    image: pipeline.image ?? '',
    volumes: pipeline.volumes.map(v => ({
      type: v.type === 'new_pvc' ? 'new_pvc' : 'pvc',
      name: v.name,
      mountPoint: v.mountPoint,
      size: v.size ?? ''
    })),
    snapshot: pipeline.autosnapshot,
    snapshotClass: pipeline.chard.snapshotClass ?? ''
  };
}

/** Kale's `size` and `size_type` from `5Gi`. */
function kaleSize(size: string): { size?: number | string; size_type?: string } {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$/.exec(size);
  if (!size.trim()) {
    return {};
  }
  return m ? { size: Number(m[1]), size_type: m[2] } : { size };
}

/** Write the form: Kale's keys, Chard's overrides and its snapshot class (one call each). */
export function writePipelineForm(model: IMetadataModel, form: IPipelineForm): void {
  const rawKale = model.getMetadata(KALE_METADATA_KEY);
  const kale: Record<string, unknown> = isRecord(rawKale) ? { ...rawKale } : {};
  const rawChard = model.getMetadata(CHARD_METADATA_KEY);
  const chard: Record<string, unknown> = isRecord(rawChard) ? { ...rawChard } : {};
  const text = (key: string, value: string): void => {
    if (value.trim()) {
      kale[key] = value.trim();
    } else {
      delete kale[key];
    }
  };
  text('pipeline_name', form.name);
  text('pipeline_description', form.description);
  text('experiment_name', form.experiment);
  if (isRecord(kale.experiment)) {
    kale.experiment = { ...kale.experiment, name: form.experiment.trim() };
  }
  text('docker_image', form.image);
  if ('base_image' in kale && form.image.trim()) {
    delete kale.base_image;
  }
  const oldVolumes = Array.isArray(kale.volumes) ? kale.volumes : [];
  kale.volumes = form.volumes.map((v, i) => {
    const old: Record<string, unknown> = isRecord(oldVolumes[i])
      ? { ...oldVolumes[i] }
      : { annotations: [] };
    delete old.size;
    delete old.size_type;
    return {
      ...old,
      type: v.type,
      name: v.name.trim(),
      mount_point: v.mountPoint.trim(),
      ...kaleSize(v.size)
    };
  });
  kale.autosnapshot = form.snapshot;

  const override = (key: keyof IChardSettings, value: string): void => {
    if (key in chard || (key === 'pipelineName' && 'pipeline_name' in chard)) {
      delete chard[key === 'pipelineName' ? 'pipeline_name' : key];
      if (value.trim()) {
        chard[key] = value.trim();
      } else {
        delete chard[key];
      }
    }
  };
  override('pipelineName', form.name);
  override('pipelineDescription', form.description);
  override('experimentName', form.experiment);
  override('image', form.image);
  if (form.snapshotClass.trim()) {
    chard.snapshotClass = form.snapshotClass.trim();
  } else {
    delete chard.snapshotClass;
  }
  delete chard.snapshot_class;
  model.setMetadata(KALE_METADATA_KEY, kale);
  if (Object.keys(chard).length > 0 || rawChard !== undefined) {
    model.setMetadata(CHARD_METADATA_KEY, Object.keys(chard).length > 0 ? chard : undefined);
  }
}

/** Modules the imports cells load that a bare Python image does not have. */
const SCIENTIFIC = [
  'numpy',
  'pandas',
  'sklearn',
  'scipy',
  'matplotlib',
  'torch',
  'tensorflow',
  'seaborn'
];
/** pip's names for the modules whose import name differs. */
const PIP_NAME: Record<string, string> = { sklearn: 'scikit-learn' };

/** Is `image` a bare Python image (`python:3.12`, `docker.io/library/python:3.12-slim`)? */
export function isBarePython(image: string): boolean {
  return /^(?:(?:docker\.io|index\.docker\.io)\/)?(?:library\/)?python(?::[^/]*)?(?:@sha256:[0-9a-f]+)?$/.test(
    image.trim()
  );
}

/**
 * When the image is a bare Python image and the imports cells need packages it lacks: their
 * pip names (e.g. `numpy`, `scikit-learn`), else an empty list.
 */
export function missingPackages(image: string, plan: IPlan): string[] {
  if (!isBarePython(image)) {
    return [];
  }
  const modules = new Set<string>();
  for (const block of [...plan.imports, ...plan.functions]) {
    for (const m of block.source.matchAll(
      /^\s*(?:import\s+([\w.]+(?:\s*,\s*[\w.]+)*)|from\s+([\w.]+)\s+import)/gm
    )) {
      for (const name of (m[1] ?? m[2]).split(',')) {
        modules.add(name.trim().split('.')[0]);
      }
    }
  }
  return SCIENTIFIC.filter(m => modules.has(m)).map(m => PIP_NAME[m] ?? m);
}
