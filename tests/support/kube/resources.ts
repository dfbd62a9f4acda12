/**
 * The resource types the test API server serves, and the discovery documents
 * (/api, /api/v1, /apis, /apis/{group}, /apis/{group}/{version}) that describe them.
 */

export interface IResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  /** A `status` subresource: status only writable through /status, spec changes bump generation. */
  statusSubresource: boolean;
  /** Custom resource (served by the apiextensions machinery: 415 on strategic merge, Status on delete). */
  custom: boolean;
  /** Extra subresources besides status (e.g. pods/log). */
  subresources: string[];
  shortNames?: string[];
}

export type JsonObject = { [key: string]: unknown };

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const CORE_TYPES: IResourceType[] = [
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    namespaced: false,
    statusSubresource: true,
    custom: false,
    subresources: [],
    shortNames: ['ns']
  },
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    namespaced: true,
    statusSubresource: true,
    custom: false,
    subresources: ['log'],
    shortNames: ['po']
  },
  {
    group: '',
    version: 'v1',
    plural: 'persistentvolumeclaims',
    singular: 'persistentvolumeclaim',
    kind: 'PersistentVolumeClaim',
    namespaced: true,
    statusSubresource: true,
    custom: false,
    subresources: [],
    shortNames: ['pvc']
  },
  {
    group: '',
    version: 'v1',
    plural: 'secrets',
    singular: 'secret',
    kind: 'Secret',
    namespaced: true,
    statusSubresource: false,
    custom: false,
    subresources: []
  },
  {
    group: '',
    version: 'v1',
    plural: 'configmaps',
    singular: 'configmap',
    kind: 'ConfigMap',
    namespaced: true,
    statusSubresource: false,
    custom: false,
    subresources: [],
    shortNames: ['cm']
  },
  {
    group: '',
    version: 'v1',
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    kind: 'ServiceAccount',
    namespaced: true,
    statusSubresource: false,
    custom: false,
    subresources: [],
    shortNames: ['sa']
  }
];

/** Argo's CRD has `subresources: {}`: no status subresource, status is written with the object. */
export const WORKFLOWS: IResourceType = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'workflows',
  singular: 'workflow',
  kind: 'Workflow',
  namespaced: true,
  statusSubresource: false,
  custom: true,
  subresources: [],
  shortNames: ['wf']
};

export const VOLUME_SNAPSHOTS: IResourceType = {
  group: 'snapshot.storage.k8s.io',
  version: 'v1',
  plural: 'volumesnapshots',
  singular: 'volumesnapshot',
  kind: 'VolumeSnapshot',
  namespaced: true,
  statusSubresource: true,
  custom: true,
  subresources: [],
  shortNames: ['vs']
};

export const VOLUME_SNAPSHOT_CLASSES: IResourceType = {
  group: 'snapshot.storage.k8s.io',
  version: 'v1',
  plural: 'volumesnapshotclasses',
  singular: 'volumesnapshotclass',
  kind: 'VolumeSnapshotClass',
  namespaced: false,
  statusSubresource: false,
  custom: true,
  subresources: [],
  shortNames: ['vsclass', 'vsclasses']
};

export function typeKey(group: string, plural: string): string {
  return `${group}/${plural}`;
}

export function apiVersionOf(type: IResourceType): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** The set of types one server instance serves (core + the CRDs that are "installed"). */
export class ResourceRegistry {
  private readonly _types: IResourceType[];

  constructor(types: IResourceType[]) {
    this._types = types;
  }

  get types(): readonly IResourceType[] {
    return this._types;
  }

  find(group: string, version: string, plural: string): IResourceType | undefined {
    return this._types.find(t => t.group === group && t.version === version && t.plural === plural);
  }

  byKind(apiVersion: string, kind: string): IResourceType | undefined {
    return this._types.find(t => apiVersionOf(t) === apiVersion && t.kind === kind);
  }

  groups(): string[] {
    const out: string[] = [];
    for (const t of this._types) {
      if (t.group !== '' && !out.includes(t.group)) {
        out.push(t.group);
      }
    }
    return out;
  }

  versionsOf(group: string): string[] {
    const out: string[] = [];
    for (const t of this._types) {
      if (t.group === group && !out.includes(t.version)) {
        out.push(t.version);
      }
    }
    return out;
  }

  /** APIResourceList for /api/v1 or /apis/{group}/{version}. */
  resourceList(group: string, version: string): JsonObject | undefined {
    const types = this._types.filter(t => t.group === group && t.version === version);
    if (types.length === 0) {
      return undefined;
    }
    const resources: JsonObject[] = [];
    for (const t of types) {
      const entry: JsonObject = {
        name: t.plural,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: VERBS
      };
      if (t.shortNames) {
        entry.shortNames = t.shortNames;
      }
      resources.push(entry);
      if (t.statusSubresource) {
        resources.push({
          name: `${t.plural}/status`,
          singularName: '',
          namespaced: t.namespaced,
          kind: t.kind,
          verbs: ['get', 'patch', 'update']
        });
      }
      for (const sub of t.subresources) {
        resources.push({
          name: `${t.plural}/${sub}`,
          singularName: '',
          namespaced: t.namespaced,
          kind: t.kind,
          verbs: ['get']
        });
      }
    }
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: group === '' ? version : `${group}/${version}`,
      resources
    };
  }

  apiGroup(group: string): JsonObject | undefined {
    const versions = this.versionsOf(group);
    if (versions.length === 0) {
      return undefined;
    }
    const entries = versions.map(v => ({ groupVersion: `${group}/${v}`, version: v }));
    return {
      kind: 'APIGroup',
      apiVersion: 'v1',
      name: group,
      versions: entries,
      preferredVersion: entries[0]
    };
  }

  apiGroupList(): JsonObject {
    const groups: JsonObject[] = [];
    for (const g of this.groups()) {
      const group = this.apiGroup(g);
      if (group) {
        const rest: JsonObject = { ...group };
        delete rest.kind;
        delete rest.apiVersion;
        groups.push(rest);
      }
    }
    return { kind: 'APIGroupList', apiVersion: 'v1', groups };
  }
}
