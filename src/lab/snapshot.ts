/**
 * The open notebook as core's `INotebook`, read straight from the JupyterLab model (sources,
 * tags, notebook metadata) without serialising outputs. Structural types keep this free of
 * JupyterLab imports, so it runs (and is tested) anywhere.
 */
import { isRecord } from '../core/notebook.js';
import type { CellType, ICell, INotebook } from '../core/notebook.js';

/** What Chard reads from a JupyterLab cell model (`ICellModel` satisfies it). */
export interface ICellModelLike {
  readonly type: string;
  readonly sharedModel: { getSource(): string };
  getMetadata(key: string): unknown;
}

/** What Chard reads from a JupyterLab notebook model (`INotebookModel` satisfies it). */
export interface INotebookModelLike {
  readonly cells: Iterable<ICellModelLike>;
  readonly metadata: object;
  readonly nbformat: number;
  readonly nbformatMinor: number;
}

/** The cell's tags: strings only, in order (anything else in `tags` is ignored). */
export function cellTags(cell: { getMetadata(key: string): unknown }): string[] {
  const tags = cell.getMetadata('tags');
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

function cellType(type: string): CellType {
  return type === 'code' || type === 'markdown' ? type : 'raw';
}

/** A snapshot of the notebook for the analyzer. */
export function snapshotNotebook(model: INotebookModelLike): INotebook {
  const cells: ICell[] = [];
  for (const cell of model.cells) {
    cells.push({
      cellType: cellType(cell.type),
      source: cell.sharedModel.getSource(),
      tags: cellTags(cell)
    });
  }
  const metadata: Record<string, unknown> = isRecord(model.metadata) ? { ...model.metadata } : {};
  return {
    nbformat: model.nbformat,
    nbformatMinor: model.nbformatMinor,
    metadata,
    cells
  };
}
