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
 * A DNS-1123 label for `name`, at most `max` characters: the name lowercased with every run of
 * other characters turned into `-` (`load_data` -> `load-data`). A name with nothing usable, or
 * too long, gets a hash of the original appended so it stays distinct.
 */
export function dnsLabel(name: string, max = 63, fallback = 'step'): string {
  const base = slug(name);
  if (base.length > 0 && base.length <= max) {
    return base;
  }
  return hashed(name, max, fallback);
}

function hashed(name: string, max: number, fallback: string): string {
  const suffix = shortHash(name).slice(0, 6);
  const base = (slug(name) || fallback).slice(0, max - suffix.length - 1).replace(/-+$/, '');
  return `${base || fallback}-${suffix}`;
}

/**
 * DNS labels for a list of names, unique within the list, in order. Names that slug alike
 * (`Train Model`, `train_model`) are told apart by a hash of the original name, so an id does
 * not depend on the order of the steps.
 */
export function uniqueDnsLabels(names: readonly string[], max = 63): string[] {
  const counts = new Map<string, number>();
  for (const name of names) {
    const id = dnsLabel(name, max);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const used = new Set<string>();
  return names.map(name => {
    let id = dnsLabel(name, max);
    if ((counts.get(id) ?? 0) > 1) {
      id = hashed(name, max, 'step');
    }
    for (let n = 2; used.has(id); n++) {
      const tail = `-${n}`;
      id = `${hashed(name, max - tail.length, 'step')}${tail}`;
    }
    used.add(id);
    return id;
  });
}
