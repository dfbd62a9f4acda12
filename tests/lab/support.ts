/**
 * Light stand-ins for the JupyterLab objects the lab modules read: a cell model with the
 * `getMetadata`/`setMetadata` contract (copies in, copies out) and a gettext-style translator.
 */
import type { ICellModelLike, INotebookModelLike } from '../../src/lab/snapshot.js';
import type { ITaggableCell } from '../../src/lab/stepedit.js';
import type { ITranslate } from '../../src/lab/planview.js';

export class FakeCell implements ITaggableCell, ICellModelLike {
  constructor(
    readonly type: string,
    source: string,
    tags?: unknown
  ) {
    this._source = source;
    if (tags !== undefined) {
      this._metadata.tags = structuredClone(tags);
    }
  }

  readonly sharedModel = { getSource: (): string => this._source };
  /** Number of setMetadata calls (a no-op edit must not write). */
  writes = 0;

  getMetadata(key: string): unknown {
    const value = this._metadata[key];
    return value === undefined ? undefined : structuredClone(value);
  }

  setMetadata(key: string, value: unknown): void {
    this.writes++;
    if (value === undefined) {
      delete this._metadata[key];
    } else {
      this._metadata[key] = structuredClone(value);
    }
  }

  hasMetadata(key: string): boolean {
    return key in this._metadata;
  }

  private readonly _source: string;
  private readonly _metadata: Record<string, unknown> = {};
}

export function fakeNotebook(
  cells: FakeCell[],
  metadata: Record<string, unknown> = {}
): INotebookModelLike {
  return { cells, metadata, nbformat: 4, nbformatMinor: 5 };
}

const fill = (text: string, args: unknown[]): string =>
  text.replace(/%(\d+)/g, (_m, n: string) => String(args[Number(n) - 1]));

/** English gettext behaviour: `_n` passes n as %1, its extra arguments from %2. */
export const english: ITranslate = {
  __: (msgid, ...args) => fill(msgid, args),
  _n: (singular, plural, n, ...args) => fill(n === 1 ? singular : plural, [n, ...args])
};
