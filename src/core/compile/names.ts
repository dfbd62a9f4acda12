/**
 * Kubernetes-facing names the compilers derive. Step ids are already DNS-1123 labels, unique
 * in the plan (the analysis guarantees it); these helpers only add fixed, collision-free names.
 */

/** A name not in `taken`: `base`, else `base-2`, `base-3`, ... (deterministic). */
export function freeName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) {
    return base;
  }
  for (let i = 2; ; i++) {
    const candidate = `${base}-${i}`;
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
