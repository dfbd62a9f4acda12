/**
 * Kubernetes-safe names (DNS-1123 labels) derived deterministically from user-given names.
 */

/** FNV-1a over the UTF-16 code units of `text`, as 8 hex digits. Deterministic, not cryptographic. */
export function shortHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Is `name` a valid DNS-1123 label (at most 63 characters)? */
export function isDnsLabel(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

/** Lowercase, non-alphanumeric runs to `-`, trimmed; may be empty. */
function slug(name: string): string {
  return name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * A DNS-1123 label for `name`, at most `max` characters. A name that is already a valid label
 * is kept; any other gets a hash of the original appended, so two names that slug alike
 * (`Train Model` and `train_model`) never collide.
 */
export function dnsLabel(name: string, max = 63, fallback = 'step'): string {
  if (name.length <= max && DNS_LABEL.test(name)) {
    return name;
  }
  const suffix = shortHash(name).slice(0, 6);
  const base = (slug(name) || fallback).slice(0, max - suffix.length - 1).replace(/-+$/, '');
  return `${base || fallback}-${suffix}`;
}

/** DNS labels for a list of names, unique within the list, in order. */
export function uniqueDnsLabels(names: readonly string[], max = 63): string[] {
  const used = new Set<string>();
  return names.map(name => {
    let id = dnsLabel(name, max);
    for (let n = 2; used.has(id); n++) {
      const tail = `-${n}`;
      id = `${dnsLabel(name, max - tail.length)}${tail}`;
    }
    used.add(id);
    return id;
  });
}
