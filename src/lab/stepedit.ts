/**
 * The cell step editor's effect on cell tags: Chard's step-definition tags are rewritten with
 * core's `applyStepTagEdit` (writes `step:`, never `block:`; tags Chard does not own are kept).
 * Cell metadata is only touched through `getMetadata`/`setMetadata`, which JupyterLab's cell
 * models provide; the caller wraps a multi-cell edit in `sharedModel.transact()`.
 */
import { applyStepTagEdit, parseCellTags } from '../core/tags.js';
import type { CellRole } from '../core/tags.js';
import { cellTags } from './snapshot.js';

/** What the editor needs from a cell model (`ICellModel` satisfies it). */
export interface ITaggableCell {
  readonly type: string;
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: unknown): void;
}

/** The roles the editor's commands give a cell. */
export type EditorRole = Exclude<CellRole, 'step'> | { step: string };

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/**
 * Give every code cell in `cells` the role; returns how many cells changed. Making a step keeps
 * the cell's existing `prev:` tags (renaming a step keeps its declared parents); every other
 * role drops them. Markdown and raw cells are left alone (Chard ignores their tags).
 */
export function setCellRole(cells: Iterable<ITaggableCell>, role: EditorRole): number {
  let changed = 0;
  for (const cell of cells) {
    if (cell.type !== 'code') {
      continue;
    }
    const tags = cellTags(cell);
    const next =
      typeof role === 'string'
        ? applyStepTagEdit(tags, { role })
        : applyStepTagEdit(tags, {
            role: 'step',
            step: role.step,
            prev: parseCellTags(tags).prev
          });
    if (sameTags(tags, next)) {
      continue;
    }
    // An emptied tag list is removed rather than left as `"tags": []`.
    cell.setMetadata('tags', next.length > 0 ? next : undefined);
    changed++;
  }
  return changed;
}

/** The role a cell's tags give it, as the editor names it (for check marks in menus). */
export function cellRole(cell: { getMetadata(key: string): unknown }): EditorRole {
  const parsed = parseCellTags(cellTags(cell));
  return parsed.role === 'step' ? { step: parsed.step ?? '' } : parsed.role;
}
