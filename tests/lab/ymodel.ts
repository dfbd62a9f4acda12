/**
 * A notebook model over JupyterLab's real shared model (`@jupyter/ydoc`'s `YNotebook`, the Yjs
 * document a JupyterLab 4 notebook keeps its cells, sources and metadata in). The adapter is
 * what JupyterLab's `CellModel` and `NotebookModel` do on top of it: `getMetadata` returns the
 * shared model's copy, `setMetadata(key, undefined)` deletes the key, every change of the
 * shared model emits `contentChanged` and marks the model dirty (`DocumentModel`).
 */
import { YNotebook } from '@jupyter/ydoc';
import type { ISharedCell } from '@jupyter/ydoc';
import type { PartialJSONValue } from '@lumino/coreutils';
import { Signal } from '@lumino/signaling';
import type { ITaggableCell } from '../../src/lab/stepedit.js';
import type { NotebookPlan } from '../../src/lab/notebookplan.js';

export class ModelCell implements ITaggableCell {
  constructor(readonly sharedModel: ISharedCell) {}

  get type(): string {
    return this.sharedModel.cell_type;
  }

  getMetadata(key: string): unknown {
    return this.sharedModel.getMetadata(key);
  }

  setMetadata(key: string, value: unknown): void {
    if (value === undefined) {
      this.sharedModel.deleteMetadata(key);
    } else {
      this.sharedModel.setMetadata(key, value as PartialJSONValue);
    }
  }
}

export class ModelNotebook implements NotebookPlan.IModel {
  /** `cells`: [type, source, tags?] in order. */
  constructor(cells: [string, string, string[]?][]) {
    this.sharedModel = YNotebook.create();
    ModelNotebook.open.add(this);
    // @jupyter/ydoc reads each new cell's metadata before the cell joins the document, which
    // Yjs 13.6 warns about; the loaded notebook is right (the tests check it).
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (!String(args[0]).startsWith('Invalid access: Add Yjs type to a document')) {
        warn(...args);
      }
    };
    try {
      this.load(cells);
    } finally {
      console.warn = warn;
    }
    // As JupyterLab opens a file: the loaded content is the clean, un-undoable state.
    this.sharedModel.undoManager.clear();
    this.sharedModel.changed.connect(() => {
      this.dirty = true;
      this.contentChanged.emit();
    });
  }

  /** Models not disposed yet (their awareness keeps a timer: dispose them after each test). */
  static readonly open = new Set<ModelNotebook>();

  static disposeAll(): void {
    for (const nb of ModelNotebook.open) {
      nb.sharedModel.dispose();
    }
    ModelNotebook.open.clear();
  }

  private load(cells: [string, string, string[]?][]): void {
    this.sharedModel.fromJSON({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: cells.map(([type, source, tags], i) => ({
        id: `cell-${i}`,
        cell_type: type as 'code',
        source,
        metadata: tags ? { tags } : {},
        ...(type === 'code' ? { outputs: [], execution_count: null } : {})
      }))
    });
  }

  readonly sharedModel: YNotebook;
  dirty = false;
  readonly contentChanged = new Signal<this, void>(this);
  readonly isDisposed = false;
  readonly nbformat = 4;
  readonly nbformatMinor = 5;

  get metadata(): object {
    return this.sharedModel.getMetadata();
  }

  get cells(): ModelCell[] {
    return this.sharedModel.cells.map(c => new ModelCell(c));
  }

  tags(): (string[] | null)[] {
    return this.cells.map(c => (c.getMetadata('tags') as string[] | undefined) ?? null);
  }
}
