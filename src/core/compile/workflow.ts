/**
 * The part of Argo's Workflow (argoproj.io/v1alpha1) that the argo target writes, as types.
 * Field names and shapes follow Argo's CRD; `chard compile` and the tests check every generated
 * Workflow against the CRD's own schema (schema/argo/workflow.schema.json).
 */

export interface IObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
}

export interface IParameter {
  name: string;
  value?: string;
  valueFrom?: { path: string; default?: string };
}

export interface IArtifact {
  name: string;
  path?: string;
  from?: string;
  raw?: { data: string };
}

export interface IVolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface IEnvVar {
  name: string;
  valueFrom: { secretKeyRef: { name: string; key: string } };
}

export interface IContainer {
  name: string;
  image: string;
  command: string[];
  args?: string[];
  imagePullPolicy?: string;
  env?: IEnvVar[];
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  volumeMounts?: IVolumeMount[];
}

export interface IDagTask {
  name: string;
  template: string;
  dependencies?: string[];
  arguments?: { parameters?: IParameter[]; artifacts?: IArtifact[] };
}

export interface ITemplate {
  name: string;
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  inputs?: { parameters?: IParameter[]; artifacts?: IArtifact[] };
  outputs?: { parameters?: IParameter[] };
  container?: IContainer;
  dag?: { tasks: IDagTask[] };
  retryStrategy?: { limit: number };
}

export interface IClaimTemplate {
  apiVersion: 'v1';
  kind: 'PersistentVolumeClaim';
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    accessModes: string[];
    resources: { requests: { storage: string } };
    storageClassName?: string;
    dataSource?: { apiGroup: string; kind: string; name: string };
  };
}

export interface IVolume {
  name: string;
  persistentVolumeClaim: { claimName: string; readOnly?: boolean };
}

export interface IWorkflowSpec {
  entrypoint: string;
  templates: ITemplate[];
  arguments?: { parameters?: IParameter[]; artifacts?: IArtifact[] };
  /** Merged by Argo into every template (strategic merge), then cut to the template's type. */
  templateDefaults?: { container: { args: string[] } };
  volumeClaimTemplates?: IClaimTemplate[];
  volumes?: IVolume[];
  serviceAccountName?: string;
  activeDeadlineSeconds?: number;
  podGC?: { strategy: string };
  ttlStrategy?: {
    secondsAfterCompletion?: number;
    secondsAfterSuccess?: number;
    secondsAfterFailure?: number;
  };
}

export interface IWorkflow {
  apiVersion: 'argoproj.io/v1alpha1';
  kind: 'Workflow';
  metadata: IObjectMeta;
  spec: IWorkflowSpec;
}
