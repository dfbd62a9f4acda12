/**
 * How a step's code and data travel inside a manifest without anything being able to touch it.
 *
 * Both Argo and Kubeflow Pipelines rewrite text in the manifests they run: Argo substitutes
 * `{{...}}` tags (and evaluates `{{=...}}` expressions) in every string of a template, including
 * raw artifact data and, at run time, in workflow parameter values; the KFP launcher replaces
 * `{{$...}}` placeholders in container arguments. A cell containing `{{workflow.name}}` must run
 * as written, so user data never appears in clear text where a substitution can happen:
 *
 * - the step spec (cell code, names, defaults) and the runtime source travel as base64 (the
 *   base64 alphabet has no braces): in Argo each shared step template carries the specs of its
 *   steps as a compressed content-addressed bundle (`specBundle`), each step naming its own by
 *   sha256, as container arguments split into chunks below the kernel's 128 KiB limit for a
 *   single argument, and the runtime comes once per Workflow from `templateDefaults` (never as
 *   template inputs, which Argo copies into the Workflow's status for every node); in KFP each
 *   step's spec compressed (`deflateBase64`) as a constant input parameter of its task, which the
 *   bootstrap reads from KFP's executor input (a spec too large for that: chunked container
 *   arguments), and the runtime once per pipeline;
 * - a small constant Python bootstrap (src/runtime/bootstrap.py, never containing user data) decodes both and runs
 *   the runtime in-process with its documented command line (`--spec-json JSON`, see stepspec.ts);
 * - a pipeline parameter value that would be rewritten (it contains `{{`) is passed as
 *   `chard:b64:<base64>`; the bootstrap decodes `--param NAME=chard:b64:...` before the runtime
 *   parses it, so the runtime's contract is unchanged.
 */
import { zlibSync } from 'fflate';
import { base64Bytes, base64Encode, sha256Hex, utf8Encode } from './hash.js';

/** Prefix of a base64-encoded parameter value (decoded by the bootstrap: its PREFIX). */
export const PARAM_B64_PREFIX = 'chard:b64:';

/** Longest base64 chunk passed as one command-line argument (Linux limit: 131072 bytes). */
export const ARG_CHUNK = 100_000;

/**
 * The bootstrap program (src/runtime/bootstrap.py, embedded by the build), run as `python3
 * BOOTSTRAP_FILE ARGS` (Argo steps, KFP steps) or `python3 -c BOOTSTRAP ARGS` (the KFP runtime
 * task). Pure standard library; its docstring lists the arguments it consumes.
 */
export { BOOTSTRAP_SOURCE } from '../generated/runtime.js';

/** base64 of the zlib-compressed UTF-8 of `text` (the bootstrap's `--spec-zb64`). */
export function deflateBase64(text: string): string {
  return base64Bytes(zlibSync(utf8Encode(text), { level: 9 }));
}

/**
 * The step specs of a whole pipeline as one content-addressed bundle, shipped once per run
 * instead of once per step: base64 of the zlib-compressed JSON object mapping the sha256 of
 * each spec's JSON text to that text. Each step names its spec by that sha256
 * (`--spec-bundle-file FILE --spec-sha256 HEX`), and the bootstrap checks it.
 */
export function specBundle(specs: readonly string[]): { data: string; hashes: string[] } {
  const hashes = specs.map(sha256Hex);
  const entries = hashes.map((hash, i): [string, string] => [hash, specs[i]]);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { data: deflateBase64(JSON.stringify(Object.fromEntries(entries))), hashes };
}

/** Split base64 text into command-line-sized chunks (at least one, possibly empty). */
export function chunk(text: string, size = ARG_CHUNK): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) {
    out.push(text.slice(i, i + size));
  }
  return out.length > 0 ? out : [''];
}

/** A parameter value as text for a command line or a workflow argument. */
export function parameterText(value: string | number | boolean): string {
  return typeof value === 'string' ? value : String(value);
}

/**
 * A parameter value as it may appear in a manifest: clear text unless the orchestrator could
 * rewrite it (it contains `{{`) or it would be mistaken for an encoded value.
 */
export function inertParameterText(value: string | number | boolean): string {
  const text = parameterText(value);
  return text.includes('{{') || text.startsWith(PARAM_B64_PREFIX)
    ? PARAM_B64_PREFIX + base64Encode(text)
    : text;
}

/**
 * Check that no string in a manifest contains `marker` (e.g. `{{`) except the exact strings the
 * compiler generated on purpose. Keys are checked as well. `where` names the offending field.
 */
export function assertInert(
  value: unknown,
  marker: string,
  allowed: ReadonlySet<string>,
  fail: (where: string, text: string) => never,
  where = ''
): void {
  if (typeof value === 'string') {
    if (value.includes(marker) && !allowed.has(value)) {
      fail(where, value);
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => assertInert(item, marker, allowed, fail, `${where}[${index}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const path = where ? `${where}.${key}` : key;
      if (key.includes(marker)) {
        fail(path, key);
      }
      assertInert(item, marker, allowed, fail, path);
    }
  }
}
