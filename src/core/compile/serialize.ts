/**
 * YAML output shared by the targets: built from objects with the `yaml` package, never by
 * string concatenation. YAML 1.1 output rules are used so that strings a YAML 1.1 reader
 * (Kubernetes, Argo, KFP are Go programs using go-yaml) would take for something else —
 * `yes`, `no`, `on`, `0755`, `1_000` — are quoted. Map keys are sorted, as the KFP compiler
 * does, so the same object always gives the same bytes.
 */
import { Document } from 'yaml';

/**
 * Serialize one or more documents (multi-document YAML separated by `---`). `comment` becomes
 * a `#` comment block at the top; every line of it is commented, so it cannot end the comment.
 */
export function toYaml(documents: readonly unknown[], comment?: string): string {
  return documents
    .map((value, index) => {
      const doc = new Document(value, {
        version: '1.1',
        sortMapEntries: true,
        aliasDuplicateObjects: false
      });
      if (index === 0 && comment !== undefined) {
        doc.commentBefore = comment
          .split('\n')
          .map(line => ` ${line}`)
          .join('\n');
      }
      return doc.toString({ lineWidth: 0, indentSeq: false });
    })
    .join('---\n');
}

/** Order strings by UTF-16 code units, independent of the locale (deterministic output). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
