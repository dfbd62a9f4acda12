/**
 * Kubernetes-facing names the compilers check or derive. Step ids are already DNS-1123 labels,
 * unique in the plan (the analysis guarantees it); these helpers check names given in settings
 * and metadata and add fixed, collision-free names.
 */
import { isDnsLabel } from '../names.js';

export { isDnsLabel };

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;

/** Is `name` a DNS-1123 subdomain (claims, storage classes, snapshots, service accounts)? */
export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

/** An OCI image reference: registry/path:tag@digest, no white space, braces or quotes. */
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]*$/;

/** Is `value` an image reference Chard writes into a manifest as it is? */
export function isImageReference(value: string): boolean {
  return IMAGE.test(value) && value.length <= 512;
}

/** Is `value` a Kubernetes quantity of the plain kind Chard writes (`10Gi`, `0.5`, `500M`)? */
export function isQuantity(value: string): boolean {
  return QUANTITY.test(value);
}

/** A name not in `taken`: `base`, else `base-2`, `base-3`, ... (deterministic). */
export function freeName(base: string, taken: ReadonlySet<string>, separator = '-'): string {
  if (!taken.has(base)) {
    return base;
  }
  for (let i = 2; ; i++) {
    const candidate = `${base}${separator}${i}`;
    if (!taken.has(candidate)) {
      return candidate;
    }
  }
}

/** `metadata.generateName` for a pipeline id: at most 58 characters so the 5 random fit in 63. */
export function generateNamePrefix(pipelineId: string): string {
  const base = pipelineId.slice(0, 57).replace(/-+$/, '') || 'pipeline';
  return `${base}-`;
}

/** Names Argo accepts for workflow parameters and artifacts. */
export const ARGO_PARAMETER_NAME = /^[-a-zA-Z0-9_]+$/;

/**
 * Names safe inside a KFP placeholder (`{{$.inputs.artifacts['NAME'].path}}`): Python
 * identifiers, which is what variable and parameter names are.
 */
export const KFP_IO_NAME = /^[\p{L}_][\p{L}\p{N}_]*$/u;
