/** Loading test notebooks and building small notebooks in tests. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNotebook } from '../../src/core/notebook.js';
import type { INotebook } from '../../src/core/notebook.js';

export const NOTEBOOKS = join(process.cwd(), 'tests/fixtures/notebooks');

export function loadNotebook(name: string): INotebook {
  return parseNotebook(readFileSync(join(NOTEBOOKS, name), 'utf8'), name);
}

export type CellSpec = string | { tags?: string[]; src: string } | { md: string };

/** An in-memory notebook from a compact description. */
export function makeNotebook(cells: CellSpec[], metadata: Record<string, unknown> = {}): INotebook {
  return {
    nbformat: 4,
    nbformatMinor: 5,
    metadata,
    cells: cells.map(c =>
      typeof c === 'string'
        ? { cellType: 'code' as const, source: c, tags: [] }
        : 'md' in c
          ? { cellType: 'markdown' as const, source: c.md, tags: [] }
          : { cellType: 'code' as const, source: c.src, tags: c.tags ?? [] }
    )
  };
}
