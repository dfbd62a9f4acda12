/**
 * Reading nbformat 4 notebooks into typed data. Every problem is a `NotebookError` with a
 * one-line message; nothing here throws anything else on bad input.
 */

export type CellType = 'code' | 'markdown' | 'raw';

export interface ICell {
  cellType: CellType;
  /** The cell source joined into one string (nbformat allows a string or a list of lines). */
  source: string;
  /** Cell tags (`metadata.tags`), strings only, in order. */
  tags: string[];
}

export interface INotebook {
  nbformat: number;
  nbformatMinor: number;
  /** Notebook-level metadata exactly as stored. */
  metadata: Record<string, unknown>;
  cells: ICell[];
}

/** A notebook that cannot be read; `message` is one line naming the problem. */
export class NotebookError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotebookError';
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Join an nbformat multiline string (string or list of strings). */
export function joinSource(source: unknown): string {
  if (typeof source === 'string') {
    return source;
  }
  if (Array.isArray(source)) {
    return source.filter((s): s is string => typeof s === 'string').join('');
  }
  return '';
}

/**
 * Parse notebook JSON text. `fileName` is only used in error messages.
 */
export function parseNotebook(text: string, fileName = 'notebook'): INotebook {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new NotebookError(`${fileName}: not valid JSON (${reason})`);
  }
  return readNotebook(data, fileName);
}

/** Validate already-parsed notebook JSON (as JupyterLab's model.toJSON() gives it). */
export function readNotebook(data: unknown, fileName = 'notebook'): INotebook {
  if (!isRecord(data)) {
    throw new NotebookError(`${fileName}: not a notebook (the top level is not a JSON object)`);
  }
  const nbformat = data.nbformat;
  if (typeof nbformat !== 'number') {
    throw new NotebookError(`${fileName}: not a notebook (no "nbformat" version)`);
  }
  if (nbformat !== 4) {
    throw new NotebookError(
      `${fileName}: nbformat ${nbformat} is not supported; Chard reads nbformat 4 ` +
        `(convert with: jupyter nbconvert --to notebook --nbformat 4)`
    );
  }
  if (!Array.isArray(data.cells)) {
    throw new NotebookError(`${fileName}: not a notebook (no "cells" array)`);
  }
  const metadata = isRecord(data.metadata) ? data.metadata : {};
  const cells: ICell[] = data.cells.map((raw: unknown, index: number) => {
    if (!isRecord(raw)) {
      throw new NotebookError(`${fileName}: cell ${index + 1} is not a JSON object`);
    }
    const type = raw.cell_type;
    if (type !== 'code' && type !== 'markdown' && type !== 'raw') {
      throw new NotebookError(
        `${fileName}: cell ${index + 1} has unknown cell_type ${JSON.stringify(type)}`
      );
    }
    const cellMeta = isRecord(raw.metadata) ? raw.metadata : {};
    const tags = Array.isArray(cellMeta.tags)
      ? cellMeta.tags.filter((t): t is string => typeof t === 'string')
      : [];
    return { cellType: type, source: joinSource(raw.source), tags };
  });
  const minor = typeof data.nbformat_minor === 'number' ? data.nbformat_minor : 0;
  return { nbformat, nbformatMinor: minor, metadata, cells };
}
