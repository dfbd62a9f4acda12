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

/** Step names defined by `step:`/`block:` tags anywhere in `cells`. */
export function definedSteps(cells: Iterable<{ getMetadata(key: string): unknown }>): Set<string> {
  const names = new Set<string>();
  for (const cell of cells) {
    for (const name of parseCellTags(cellTags(cell)).stepNames) {
      names.add(name);
    }
  }
  return names;
}

/**
 * Point every `prev:FROM` in `cells` at `to` (a renamed step); a cell that already lists
 * `prev:TO` just loses `prev:FROM`. Returns the indices of the cells changed.
 */
export function renamePrevReferences(
  cells: readonly ITaggableCell[],
  from: string,
  to: string
): number[] {
  const changed: number[] = [];
  cells.forEach((cell, index) => {
    const tags = cellTags(cell);
    if (!tags.some(t => t.trim() === `prev:${from}`)) {
      return;
    }
    const next: string[] = [];
    for (const tag of tags) {
      const t = tag.trim() === `prev:${from}` ? `prev:${to}` : tag;
      if (!(t === `prev:${to}` && next.includes(t))) {
        next.push(t);
      }
    }
    cell.setMetadata('tags', next);
    changed.push(index);
  });
  return changed;
}

/** Resource tags the step editor sets: `undefined` keeps a tag as it is, `null` removes it. */
export interface IResourceEdit {
  /** `limit:KEY:VALUE` per key (`cpu`, `memory`, `nvidia.com/gpu`). */
  limits?: Record<string, string | null>;
  image?: string | null;
  cache?: boolean | null;
}

/** The cell's tags with the resource edit applied (other tags kept, in order). */
export function applyResourceEdit(tags: readonly string[], edit: IResourceEdit): string[] {
  let next = [...tags];
  const replace = (matches: (tag: string) => boolean, value: string | null): void => {
    const at = next.findIndex(matches);
    next = next.filter(t => !matches(t));
    if (value !== null) {
      next.splice(at < 0 ? next.length : at, 0, value);
    }
  };
  for (const [key, value] of Object.entries(edit.limits ?? {})) {
    replace(
      t => t.trim().startsWith(`limit:${key}:`),
      value === null ? null : `limit:${key}:${value}`
    );
  }
  if (edit.image !== undefined) {
    replace(t => t.trim().startsWith('image:'), edit.image === null ? null : `image:${edit.image}`);
  }
  if (edit.cache !== undefined) {
    replace(
      t => t.trim().startsWith('cache:'),
      edit.cache === null ? null : `cache:${edit.cache ? 'enabled' : 'disabled'}`
    );
  }
  return next;
}

/** An edit of some cells of a notebook, as the step editor and the Pipeline Step menu make it. */
export interface ICellsEdit {
  role: EditorRole;
  /** For a step: its explicit parents (`prev:`); undefined keeps the cells' own. */
  prev?: string[];
  /** Written on the first target code cell. */
  resources?: IResourceEdit;
}

/** What an edit changed, for the message that says so. */
export interface ICellsEditResult {
  /** 0-based indices of the cells whose tags changed, in notebook order. */
  changed: number[];
  /** Steps that no longer exist after the edit and were renamed to the edited step. */
  renamed: string[];
  /** Of `changed`, the cells whose `prev:` followed a rename. */
  prevUpdated: number[];
}

/**
 * Apply an edit to the cells at `targets` (0-based indices into `cells`, the whole notebook).
 * When a step loses its last defining cell to the edited step (it was renamed), the `prev:`
 * tags naming it follow the new name in every cell. The caller wraps this in one
 * `sharedModel.transact()`, so the edit is one undo step.
 */
export function editCells(
  cells: readonly ITaggableCell[],
  targets: readonly number[],
  edit: ICellsEdit
): ICellsEditResult {
  const changed = new Set<number>();
  const before = definedSteps(cells);
  const code = [...new Set(targets)].sort((a, b) => a - b).filter(i => cells[i]?.type === 'code');
  const oldNames = new Set<string>();
  for (const i of code) {
    for (const name of parseCellTags(cellTags(cells[i])).stepNames) {
      oldNames.add(name);
    }
  }
  for (const i of code) {
    const cell = cells[i];
    const tags = cellTags(cell);
    let next: string[];
    if (typeof edit.role === 'string') {
      next = applyStepTagEdit(tags, { role: edit.role });
    } else {
      next = applyStepTagEdit(tags, {
        role: 'step',
        step: edit.role.step,
        prev: edit.prev ?? parseCellTags(tags).prev
      });
    }
    if (edit.resources && i === code[0]) {
      next = applyResourceEdit(next, edit.resources);
    }
    if (!sameTags(tags, next)) {
      cell.setMetadata('tags', next.length > 0 ? next : undefined);
      changed.add(i);
    }
  }
  const renamed: string[] = [];
  const prevUpdated: number[] = [];
  if (typeof edit.role === 'object') {
    const to = edit.role.step;
    const after = definedSteps(cells);
    for (const from of oldNames) {
      if (from !== to && before.has(from) && !after.has(from)) {
        renamed.push(from);
        for (const i of renamePrevReferences(cells, from, to)) {
          changed.add(i);
          prevUpdated.push(i);
        }
      }
    }
  }
  return {
    changed: [...changed].sort((a, b) => a - b),
    renamed,
    prevUpdated: [...new Set(prevUpdated)].sort((a, b) => a - b)
  };
}

/**
 * The cells an action applies to: the selection when it contains the cell the user pointed
 * at (right-click, chip), else that cell alone. `selected` are 0-based indices.
 */
export function actionTargets(pointed: number | null, selected: readonly number[]): number[] {
  if (pointed === null || selected.includes(pointed)) {
    return [...selected];
  }
  return [pointed];
}
