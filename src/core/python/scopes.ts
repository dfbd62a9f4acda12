/**
 * Static analysis of one notebook cell on the @lezer/python syntax tree: which names the cell
 * reads before binding them, which it binds, mutates in place and deletes, and what the
 * functions and classes it defines read and write when they are called.
 */
import type { SyntaxNode, Tree } from '@lezer/common';
import { parser } from '@lezer/python';
import { completeTrailingDotFloats } from './floats.js';
import { preprocessIPython } from './ipython.js';
import { pythonSyntaxError } from './syntax.js';

/** What calling (or instantiating) a function or class defined in the notebook does to globals. */
export interface IFunctionInfo {
  name: string;
  /** Global names read when it runs (sorted). */
  freeReads: string[];
  /** Globals it assigns (`global x; x = ...`), sorted. */
  globalWrites: string[];
  /** Globals it mutates in place (`data.append(...)` on a global), sorted. */
  globalMutates: string[];
}

export interface ICellDiagnostic {
  severity: 'error' | 'warning';
  /** 1-based line within the cell. */
  line: number;
  message: string;
}

export interface ICellAnalysis {
  /** Names read before the cell binds them, in order of first read. */
  reads: string[];
  /** `readLines[i]`: the 1-based line where `reads[i]` is first read. */
  readLines: number[];
  /** Those of `reads` first read in a lambda body (which may never run), sorted. */
  lazyReads: string[];
  /** Names bound by the cell and still bound at its end. */
  defines: string[];
  /** Names mutated in place (method calls, item/attribute assignment, `+=`, `inplace=True`). */
  mutates: string[];
  /** Names deleted with `del NAME` and not bound again afterwards. */
  deletes: string[];
  /** Names bound by import statements. */
  imports: string[];
  /** Functions and classes the cell defines at top level, in order. */
  functions: IFunctionInfo[];
  /** Syntax errors (worded and placed as CPython does) and star imports. */
  diagnostics: ICellDiagnostic[];
  /**
   * True when the cell may bind names Chard cannot see: a star import, `globals()`, `vars()`,
   * `locals()`, `exec`, `eval`, `%run`, `%store`. No name is then reported as undefined after it.
   */
  dynamic: boolean;
  /** True when every statement of the cell is an import (or the cell is empty of code). */
  importsOnly: boolean;
  /** Name of a non-Python cell magic (`%%bash` ...) that made the cell opaque, else null. */
  ignoredCellMagic: string | null;
}

/**
 * Methods known not to modify their receiver. Any other method call on a name counts as a
 * mutation of that name (unless it passes `inplace=True`, which always does).
 */
const PURE_METHODS: ReadonlySet<string> = new Set(
  (
    'head tail describe info copy sum mean median mode std var sem min max count nunique unique ' +
    'value_counts groupby agg aggregate apply applymap map merge join concat to_csv to_json ' +
    'to_parquet to_pickle to_numpy to_dict to_list tolist to_frame to_string to_markdown to_html ' +
    'to_excel to_records astype reshape ravel flatten dot transpose predict predict_proba ' +
    'predict_log_proba decision_function score transform inverse_transform get_params ' +
    'get_feature_names_out items keys values get format split rsplit strip lstrip rstrip lower upper ' +
    'title capitalize startswith endswith isnull isna notnull notna any all round abs argmax argmin ' +
    'argsort corr cov query filter select_dtypes pivot pivot_table melt sample nlargest nsmallest ' +
    'idxmax idxmin cumsum cumprod diff pct_change shift rolling expanding ewm resample plot hist ' +
    'boxplot encode decode index find rfind isin between clip where equals memory_usage isdigit ' +
    'isalpha isalnum isspace zfill ljust rjust center splitlines partition rpartition iterrows ' +
    'itertuples iteritems duplicated drop_duplicates dropna fillna replace rename reset_index ' +
    'set_index sort_values sort_index drop interpolate explode stack unstack squeeze nonzero ' +
    'numpy detach cpu cuda item size dim view type float double int long bool half ' +
    'asfreq between_time cut qcut tz_localize tz_convert strftime total_seconds __len__ __repr__ ' +
    '__str__ __getitem__ __contains__ __iter__ issubset issuperset isdisjoint union intersection ' +
    'difference symmetric_difference most_common elements exists is_file is_dir glob rglob ' +
    'read read_text read_bytes readline readlines assign pipe quantile rank first last nth ' +
    'reindex set_axis droplevel add_prefix add_suffix combine_first align nunique tolist ' +
    'to_datetime to_timedelta describe'
  ).split(' ')
);

type ScopeKind = 'module' | 'function' | 'class' | 'comprehension' | 'collector';

abstract class Scope {
  abstract readonly kind: ScopeKind;
  constructor(readonly parent: Scope | null) {}
  abstract load(name: string): void;
  abstract store(name: string): void;
  abstract mutate(name: string): void;
  abstract remove(name: string): void;
  /** Effects of a nested function/lambda/class that run later (when it is called). */
  abstract deferred(info: IEffects): void;
  /** The scope a walrus (`:=`) binds in: the nearest non-comprehension scope. */
  walrusTarget(): Scope {
    return this;
  }
  /** True when loads need not be tracked (binding collection only). */
  get collecting(): boolean {
    return false;
  }
}

interface IEffects {
  reads: Set<string>;
  writes: Set<string>;
  mutates: Set<string>;
}

function emptyEffects(): IEffects {
  return { reads: new Set(), writes: new Set(), mutates: new Set() };
}

class ModuleScope extends Scope {
  readonly kind = 'module';
  readonly reads: string[] = [];
  /** Source offset of the first read of each of `reads`. */
  readonly readPositions: number[] = [];
  /** Where the walker is: the source offset of the node being visited. */
  pos = 0;
  /** Names first read in a lambda's body. */
  readonly lazy = new Set<string>();
  private _deferring = false;
  private readonly _readSet = new Set<string>();
  readonly bound = new Set<string>();
  readonly deleted = new Set<string>();
  readonly mutated = new Set<string>();
  readonly imported = new Set<string>();
  readonly functions = new Map<string, IFunctionInfo>();
  private readonly _applying = new Set<string>();

  constructor() {
    super(null);
  }

  load(name: string): void {
    if (!this.bound.has(name) && !this._readSet.has(name)) {
      this._readSet.add(name);
      this.reads.push(name);
      this.readPositions.push(this.pos);
      if (this._deferring) {
        this.lazy.add(name);
      }
    }
    const fn = this.functions.get(name);
    if (fn && !this._applying.has(name)) {
      // Using a function defined in this cell runs its body with the globals of now.
      this._applying.add(name);
      for (const r of fn.freeReads) {
        this.load(r);
      }
      for (const w of fn.globalWrites) {
        this.store(w);
      }
      for (const m of fn.globalMutates) {
        this.mutate(m);
      }
      this._applying.delete(name);
    }
  }

  store(name: string): void {
    this.bound.add(name);
    this.deleted.delete(name);
  }

  mutate(name: string): void {
    this.mutated.add(name);
  }

  remove(name: string): void {
    this.bound.delete(name);
    this.deleted.add(name);
    this.functions.delete(name);
  }

  deferred(info: IEffects): void {
    // A lambda's body at module level: count its reads now (it is usually called right away).
    this._deferring = true;
    for (const r of info.reads) {
      this.load(r);
    }
    this._deferring = false;
    for (const w of info.writes) {
      this.store(w);
    }
    for (const m of info.mutates) {
      this.mutate(m);
    }
  }
}

/** A function (or lambda) body: locals are known up front, as in Python. */
class FunctionScope extends Scope {
  readonly kind = 'function';
  readonly effects = emptyEffects();

  constructor(
    parent: Scope,
    private readonly _locals: Set<string>,
    private readonly _globals: Set<string>,
    private readonly _nonlocals: Set<string>
  ) {
    super(parent);
  }

  private _isLocal(name: string): boolean {
    return this._locals.has(name) && !this._globals.has(name) && !this._nonlocals.has(name);
  }

  load(name: string): void {
    if (!this._isLocal(name)) {
      this.effects.reads.add(name);
    }
  }

  store(name: string): void {
    if (this._globals.has(name)) {
      this.effects.writes.add(name);
    } else if (this._nonlocals.has(name)) {
      this.effects.mutates.add(name);
    }
  }

  mutate(name: string): void {
    if (!this._isLocal(name)) {
      this.effects.mutates.add(name);
    }
  }

  remove(name: string): void {
    if (this._globals.has(name)) {
      this.effects.writes.add(name);
    }
  }

  deferred(info: IEffects): void {
    for (const r of info.reads) {
      this.load(r);
    }
    for (const w of info.writes) {
      this.effects.writes.add(w);
    }
    for (const m of info.mutates) {
      this.mutate(m);
    }
  }
}

/** A class body runs at once; its own names are invisible to its methods. */
class ClassScope extends Scope {
  readonly kind = 'class';
  readonly methods = emptyEffects();
  private readonly _bound = new Set<string>();

  constructor(parent: Scope) {
    super(parent);
  }

  load(name: string): void {
    if (!this._bound.has(name)) {
      this.parent!.load(name);
    }
  }

  store(name: string): void {
    this._bound.add(name);
  }

  mutate(name: string): void {
    if (!this._bound.has(name)) {
      this.parent!.mutate(name);
    }
  }

  remove(name: string): void {
    this._bound.delete(name);
  }

  deferred(info: IEffects): void {
    for (const r of info.reads) {
      this.methods.reads.add(r);
    }
    for (const w of info.writes) {
      this.methods.writes.add(w);
    }
    for (const m of info.mutates) {
      this.methods.mutates.add(m);
    }
  }

  walrusTarget(): Scope {
    return this;
  }
}

class ComprehensionScope extends Scope {
  readonly kind = 'comprehension';

  constructor(
    parent: Scope,
    private readonly _targets: Set<string>
  ) {
    super(parent);
  }

  load(name: string): void {
    if (!this._targets.has(name)) {
      this.parent!.load(name);
    }
  }

  store(name: string): void {
    this._targets.add(name);
  }

  mutate(name: string): void {
    if (!this._targets.has(name)) {
      this.parent!.mutate(name);
    }
  }

  remove(name: string): void {
    this._targets.delete(name);
  }

  deferred(info: IEffects): void {
    this.parent!.deferred(info);
  }

  walrusTarget(): Scope {
    return this.parent!.walrusTarget();
  }

  get collecting(): boolean {
    return this.parent!.collecting;
  }
}

/** Collects the names a function body binds (its locals) and declares global/nonlocal. */
class CollectorScope extends Scope {
  readonly kind = 'collector';
  readonly bound = new Set<string>();
  readonly globals = new Set<string>();
  readonly nonlocals = new Set<string>();

  constructor() {
    super(null);
  }

  load(): void {}
  store(name: string): void {
    this.bound.add(name);
  }
  mutate(): void {}
  remove(name: string): void {
    this.bound.add(name);
  }
  deferred(): void {}
  get collecting(): boolean {
    return true;
  }
}

/** Small helpers over the lezer tree. */
namespace Private {
  export function children(node: SyntaxNode): SyntaxNode[] {
    const out: SyntaxNode[] = [];
    for (let c = node.firstChild; c; c = c.nextSibling) {
      out.push(c);
    }
    return out;
  }

  export function isExpressionNode(node: SyntaxNode): boolean {
    return !PUNCTUATION.has(node.name) && !KEYWORDS.has(node.name) && !node.type.isError;
  }

  export const PUNCTUATION: ReadonlySet<string> = new Set([
    '(',
    ')',
    '[',
    ']',
    '{',
    '}',
    ',',
    ':',
    ';',
    '.',
    '*',
    '**',
    '...',
    '->',
    'AssignOp',
    'UpdateOp',
    'At',
    'Comment'
  ]);

  export const KEYWORDS: ReadonlySet<string> = new Set([
    'for',
    'in',
    'if',
    'else',
    'elif',
    'while',
    'with',
    'as',
    'def',
    'class',
    'lambda',
    'return',
    'yield',
    'from',
    'import',
    'try',
    'except',
    'finally',
    'raise',
    'del',
    'pass',
    'break',
    'continue',
    'global',
    'nonlocal',
    'assert',
    'async',
    'await',
    'not',
    'and',
    'or',
    'is',
    'None',
    'print',
    'match',
    'case',
    'type'
  ]);
}

/** Walks one cell's tree, feeding a scope chain. */
class Walker {
  readonly diagnostics: ICellDiagnostic[] = [];
  /** Offset of the first syntax error node the walk met, or null. */
  firstError: number | null = null;
  /** True once the code used a name that can bind names unseen (`globals`, `exec` ...). */
  dynamic = false;
  /** `from __future__ import annotations`: annotations are never evaluated. */
  postponedAnnotations = false;
  /** How many branches (if/try/while/for/with/match) enclose the statement being visited. */
  private _branches = 0;

  private readonly _lineStarts: number[];

  constructor(
    private readonly _text: string,
    private readonly _module: ModuleScope | null = null
  ) {
    this._lineStarts = [0];
    for (let i = 0; i < _text.length; i++) {
      if (_text.charCodeAt(i) === 10) {
        this._lineStarts.push(i + 1);
      }
    }
  }

  lineOf(pos: number): number {
    let lo = 0;
    let hi = this._lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this._lineStarts[mid] <= pos) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return lo + 1;
  }

  private _name(node: SyntaxNode): string {
    return this._text.slice(node.from, node.to);
  }

  statements(node: SyntaxNode, scope: Scope): void {
    for (let c = node.firstChild; c; c = c.nextSibling) {
      this.visit(c, scope);
    }
  }

  visit(node: SyntaxNode, scope: Scope): void {
    if (BRANCHES.has(node.name)) {
      this._branches++;
      this._visit(node, scope);
      this._branches--;
    } else {
      this._visit(node, scope);
    }
  }

  private _visit(node: SyntaxNode, scope: Scope): void {
    if (this._module) {
      this._module.pos = node.from;
    }
    if (node.type.isError) {
      this._syntaxError(node);
      this.statements(node, scope);
      return;
    }
    switch (node.name) {
      case 'VariableName': {
        const name = this._name(node);
        if (DYNAMIC_NAMES.has(name)) {
          this.dynamic = true;
        }
        scope.load(name);
        return;
      }
      case 'AssignStatement':
        return this._assign(node, scope);
      case 'UpdateStatement':
        return this._update(node, scope);
      case 'DeleteStatement':
        return this._delete(node, scope);
      case 'ForStatement':
        return this._for(node, scope);
      case 'WithStatement':
        return this._with(node, scope);
      case 'TryStatement':
        return this._try(node, scope);
      case 'ImportStatement':
        return this._import(node, scope);
      case 'ScopeStatement':
        return this._scopeStatement(node, scope);
      case 'FunctionDefinition':
        return this._function(node, scope, []);
      case 'ClassDefinition':
        return this._class(node, scope, []);
      case 'DecoratedStatement':
        return this._decorated(node, scope);
      case 'LambdaExpression':
        return this._lambda(node, scope);
      case 'ArrayComprehensionExpression':
      case 'ComprehensionExpression':
      case 'SetComprehensionExpression':
      case 'DictionaryComprehensionExpression':
        return this._comprehension(node, scope);
      case 'NamedExpression':
        return this._walrus(node, scope);
      case 'MemberExpression':
        return this._member(node, scope);
      case 'CallExpression':
        return this._call(node, scope);
      case 'ArgList':
        return this._args(node, scope);
      case 'MatchStatement':
        return this._match(node, scope);
      case 'String':
      case 'Number':
      case 'Boolean':
      case 'Comment':
      case 'PropertyName':
        return;
      default:
        this.statements(node, scope);
    }
  }

  /** Remember where the parser first gave up; `pythonSyntaxError` words it as CPython does. */
  private _syntaxError(node: SyntaxNode): void {
    if (!isParserError(node)) {
      return;
    }
    if (this.firstError === null || node.from < this.firstError) {
      this.firstError = node.from;
    }
  }

  /** An annotation is read where it stands, unless annotations are postponed (PEP 563). */
  private _annotation(node: SyntaxNode, scope: Scope): void {
    if (!this.postponedAnnotations) {
      this.statements(node, scope);
    }
  }

  /** Bind an assignment/for/with target. */
  private _bindTarget(node: SyntaxNode, scope: Scope): void {
    switch (node.name) {
      case 'VariableName':
        scope.store(this._name(node));
        return;
      case 'MemberExpression': {
        // x.a = v, x[k] = v: reads x (and the subscript), mutates x.
        this._member(node, scope);
        const base = this._baseName(node);
        if (base) {
          scope.mutate(base);
        }
        return;
      }
      case 'TupleExpression':
      case 'ArrayExpression':
      case 'ParenthesizedExpression':
        for (const c of Private.children(node)) {
          if (Private.isExpressionNode(c)) {
            this._bindTarget(c, scope);
          }
        }
        return;
      default:
        if (node.type.isError) {
          this._syntaxError(node);
        } else {
          this.visit(node, scope);
        }
    }
  }

  /** The root variable of `x.a[b].c(...)`, if it is a plain name. */
  private _baseName(node: SyntaxNode): string | null {
    let n: SyntaxNode | null = node;
    while (n && (n.name === 'MemberExpression' || n.name === 'CallExpression')) {
      n = n.firstChild;
    }
    return n && n.name === 'VariableName' ? this._name(n) : null;
  }

  private _assign(node: SyntaxNode, scope: Scope): void {
    const groups: SyntaxNode[][] = [[]];
    let annotation: SyntaxNode | null = null;
    for (const c of Private.children(node)) {
      if (c.name === 'AssignOp') {
        groups.push([]);
      } else if (c.name === 'TypeDef') {
        annotation = c;
      } else if (Private.isExpressionNode(c)) {
        groups[groups.length - 1].push(c);
      } else if (c.type.isError) {
        this._syntaxError(c);
      }
    }
    if (annotation) {
      this._annotation(annotation, scope);
    }
    if (groups.length === 1) {
      return; // `x: int` declares, binds nothing
    }
    for (const v of groups[groups.length - 1]) {
      this.visit(v, scope);
    }
    for (const targets of groups.slice(0, -1)) {
      for (const t of targets) {
        this._bindTarget(t, scope);
      }
    }
  }

  private _update(node: SyntaxNode, scope: Scope): void {
    const kids = Private.children(node).filter(c => Private.isExpressionNode(c));
    for (const v of kids.slice(1)) {
      this.visit(v, scope);
    }
    const target = kids[0];
    if (!target) {
      return;
    }
    if (target.name === 'VariableName') {
      const name = this._name(target);
      scope.load(name);
      scope.mutate(name);
      scope.store(name);
    } else {
      this._bindTarget(target, scope);
    }
  }

  private _delete(node: SyntaxNode, scope: Scope): void {
    const remove = (t: SyntaxNode): void => {
      if (t.name === 'VariableName') {
        // `del x` needs `x` to exist: it reads it (NameError otherwise)
        scope.load(this._name(t));
        scope.remove(this._name(t));
      } else if (
        t.name === 'TupleExpression' ||
        t.name === 'ParenthesizedExpression' ||
        t.name === 'ArrayExpression'
      ) {
        Private.children(t).filter(Private.isExpressionNode).forEach(remove);
      } else {
        this._bindTarget(t, scope);
      }
    };
    Private.children(node).filter(Private.isExpressionNode).forEach(remove);
  }

  private _for(node: SyntaxNode, scope: Scope): void {
    const kids = Private.children(node);
    const inAt = kids.findIndex(c => c.name === 'in');
    const targets = kids.slice(0, inAt).filter(Private.isExpressionNode);
    for (const c of kids.slice(inAt + 1)) {
      if (c.name !== 'Body' && c.name !== 'else' && Private.isExpressionNode(c)) {
        this.visit(c, scope);
      }
    }
    for (const t of targets) {
      this._bindTarget(t, scope);
    }
    for (const c of kids) {
      if (c.name === 'Body') {
        this.statements(c, scope);
      }
    }
  }

  private _with(node: SyntaxNode, scope: Scope): void {
    const kids = Private.children(node);
    for (let i = 0; i < kids.length; i++) {
      const c = kids[i];
      if (c.name === 'as' && kids[i + 1]) {
        this._bindTarget(kids[i + 1], scope);
        i++;
      } else if (c.name === 'Body') {
        this.statements(c, scope);
      } else if (Private.isExpressionNode(c)) {
        this.visit(c, scope);
      }
    }
  }

  private _try(node: SyntaxNode, scope: Scope): void {
    const kids = Private.children(node);
    for (let i = 0; i < kids.length; i++) {
      const c = kids[i];
      if ((c.name === 'as' || c.name === ',') && kids[i + 1]?.name === 'VariableName') {
        scope.store(this._name(kids[i + 1]));
        i++;
      } else if (Private.isExpressionNode(c)) {
        this.visit(c, scope);
      }
    }
  }

  private _import(node: SyntaxNode, scope: Scope): void {
    const kids = Private.children(node);
    const isFrom = kids[0]?.name === 'from';
    const importAt = kids.findIndex(c => c.name === 'import');
    const names = kids.slice(importAt + 1);
    if (isFrom && names.some(c => c.name === '*')) {
      this.dynamic = true;
      const module = this._text
        .slice(kids[1]?.from ?? node.from, kids[importAt]?.from ?? node.to)
        .trim();
      this.diagnostics.push({
        severity: 'warning',
        line: this.lineOf(node.from),
        message: `\`from ${module} import *\`: the names it brings in are unknown to Chard; import them by name so data flow is exact`
      });
      return;
    }
    // Split into comma-separated items: `a.b.c`, `a.b as c` (import) or `x`, `x as y` (from).
    let item: SyntaxNode[] = [];
    const flush = (): void => {
      if (item.length === 0) {
        return;
      }
      const asAt = item.findIndex(c => c.name === 'as');
      const bound = asAt >= 0 ? item[asAt + 1] : item[0];
      if (bound && bound.name === 'VariableName') {
        const name = this._name(bound);
        scope.store(name);
        if (scope instanceof ModuleScope) {
          scope.imported.add(name);
        }
      }
      item = [];
    };
    for (const c of names) {
      if (c.name === ',') {
        flush();
      } else if (c.name !== '(' && c.name !== ')') {
        item.push(c);
      }
    }
    flush();
  }

  private _scopeStatement(node: SyntaxNode, scope: Scope): void {
    if (!(scope instanceof CollectorScope)) {
      return;
    }
    const kids = Private.children(node);
    const target = kids[0]?.name === 'global' ? scope.globals : scope.nonlocals;
    for (const c of kids) {
      if (c.name === 'VariableName') {
        target.add(this._name(c));
      }
    }
  }

  /** Collect a function body's local bindings and global/nonlocal declarations. */
  private _collect(body: SyntaxNode, params: string[]): CollectorScope {
    const collector = new CollectorScope();
    for (const p of params) {
      collector.store(p);
    }
    const diagnostics = this.diagnostics.length;
    this.statements(body, collector);
    // errors are reported by the real pass
    this.diagnostics.length = diagnostics;
    return collector;
  }

  /** Visit a ParamList in `scope` (defaults and annotations) and return the parameter names. */
  private _params(list: SyntaxNode | undefined, scope: Scope): string[] {
    const params: string[] = [];
    if (!list) {
      return params;
    }
    const kids = Private.children(list);
    for (let i = 0; i < kids.length; i++) {
      const c = kids[i];
      if (c.name === 'VariableName') {
        params.push(this._name(c));
      } else if (c.name === 'AssignOp' && kids[i + 1]) {
        this.visit(kids[i + 1], scope);
        i++;
      } else if (c.name === 'TypeDef') {
        this._annotation(c, scope);
      } else if (c.type.isError) {
        this._syntaxError(c);
      }
    }
    return params;
  }

  private _runFunction(body: SyntaxNode | undefined, params: string[], scope: Scope): IEffects {
    if (!body) {
      return emptyEffects();
    }
    if (scope.collecting) {
      return emptyEffects();
    }
    const collected = this._collect(body, params);
    const fn = new FunctionScope(scope, collected.bound, collected.globals, collected.nonlocals);
    this.statements(body, fn);
    return fn.effects;
  }

  /** `@name.attr(args)`: reads `name` (not the attribute names) and the arguments. */
  private _decorators(decorators: SyntaxNode[], scope: Scope): void {
    for (const d of decorators) {
      let first = true;
      for (let c = d.firstChild; c; c = c.nextSibling) {
        if (c.name === 'VariableName') {
          if (first) {
            scope.load(this._name(c));
          }
          first = false;
        } else if (c.name === 'ArgList') {
          this._args(c, scope);
        } else if (c.type.isError) {
          this._syntaxError(c);
        }
      }
    }
  }

  private _function(node: SyntaxNode, scope: Scope, decorators: SyntaxNode[]): void {
    this._decorators(decorators, scope);
    const kids = Private.children(node);
    const nameNode = kids.find(c => c.name === 'VariableName');
    const params = this._params(
      kids.find(c => c.name === 'ParamList'),
      scope
    );
    for (const c of kids) {
      if (c.name === 'TypeDef') {
        this._annotation(c, scope);
      }
    }
    const effects = this._runFunction(
      kids.find(c => c.name === 'Body'),
      params,
      scope
    );
    if (!nameNode) {
      return;
    }
    const name = this._name(nameNode);
    this._defineCallable(name, effects, scope);
  }

  private _defineCallable(name: string, effects: IEffects, scope: Scope): void {
    if (scope instanceof ModuleScope) {
      effects.reads.delete(name);
      const other = scope.functions.get(name);
      if (other && this._branches > 0) {
        // defined in another branch too (`if win: def f(): ... else: def f(): ...`): either
        // definition may be the one that runs
        other.freeReads.forEach(r => effects.reads.add(r));
        other.globalWrites.forEach(w => effects.writes.add(w));
        other.globalMutates.forEach(m => effects.mutates.add(m));
      }
      scope.store(name);
      scope.functions.set(name, {
        name,
        freeReads: [...effects.reads].sort(),
        globalWrites: [...effects.writes].sort(),
        globalMutates: [...effects.mutates].sort()
      });
    } else {
      scope.store(name);
      scope.deferred(effects);
    }
  }

  private _class(node: SyntaxNode, scope: Scope, decorators: SyntaxNode[]): void {
    this._decorators(decorators, scope);
    const kids = Private.children(node);
    const nameNode = kids.find(c => c.name === 'VariableName');
    const args = kids.find(c => c.name === 'ArgList');
    if (args) {
      this._args(args, scope);
    }
    const body = kids.find(c => c.name === 'Body');
    let effects = emptyEffects();
    if (body && !scope.collecting) {
      const cls = new ClassScope(scope);
      this.statements(body, cls);
      effects = cls.methods;
    }
    if (nameNode) {
      this._defineCallable(this._name(nameNode), effects, scope);
    }
  }

  private _decorated(node: SyntaxNode, scope: Scope): void {
    const kids = Private.children(node);
    const decorators = kids.filter(c => c.name === 'Decorator');
    const def = kids.find(c => c.name === 'FunctionDefinition' || c.name === 'ClassDefinition');
    if (!def) {
      this._decorators(decorators, scope);
      return;
    }
    if (def.name === 'FunctionDefinition') {
      this._function(def, scope, decorators);
    } else {
      this._class(def, scope, decorators);
    }
  }

  private _lambda(node: SyntaxNode, scope: Scope): void {
    const kids = Private.children(node);
    const params = this._params(
      kids.find(c => c.name === 'ParamList'),
      scope
    );
    const colon = kids.findIndex(c => c.name === ':');
    const body = kids.slice(colon + 1).find(Private.isExpressionNode);
    if (!body || scope.collecting) {
      return;
    }
    const fn = new FunctionScope(scope, new Set(params), new Set(), new Set());
    this.visit(body, fn);
    scope.deferred(fn.effects);
  }

  private _comprehension(node: SyntaxNode, scope: Scope): void {
    this._comprehensionParts(Private.children(node), scope);
  }

  /** The parts of a comprehension (or of a generator expression that is a call's argument). */
  private _comprehensionParts(kids: SyntaxNode[], scope: Scope): void {
    const comp = new ComprehensionScope(scope, new Set());
    const done = new Set<SyntaxNode>();
    let first = true;
    for (let i = 0; i < kids.length; i++) {
      if (kids[i].name !== 'for') {
        continue;
      }
      let j = i + 1;
      for (; j < kids.length && kids[j].name !== 'in'; j++) {
        if (Private.isExpressionNode(kids[j])) {
          // `for` targets are local to the comprehension (bound before the element is read)
          this._bindTarget(kids[j], comp);
          done.add(kids[j]);
        }
      }
      const iterable = kids[j + 1];
      if (first && iterable) {
        // the first iterable is evaluated in the enclosing scope
        this.visit(iterable, scope);
        done.add(iterable);
      }
      first = false;
    }
    for (const c of kids) {
      if (!done.has(c)) {
        this.visit(c, comp);
      }
    }
  }

  private _walrus(node: SyntaxNode, scope: Scope): void {
    const kids = Private.children(node).filter(Private.isExpressionNode);
    for (const v of kids.slice(1)) {
      this.visit(v, scope);
    }
    if (kids[0]?.name === 'VariableName') {
      scope.walrusTarget().store(this._name(kids[0]));
    }
  }

  private _member(node: SyntaxNode, scope: Scope): void {
    for (const c of Private.children(node)) {
      if (c.name !== 'PropertyName' && Private.isExpressionNode(c)) {
        this.visit(c, scope);
      } else if (c.type.isError) {
        this._syntaxError(c);
      }
    }
  }

  private _call(node: SyntaxNode, scope: Scope): void {
    const callee = node.firstChild;
    const args = Private.children(node).find(c => c.name === 'ArgList');
    if (callee) {
      this.visit(callee, scope);
    }
    if (args) {
      this._args(args, scope);
    }
    if (callee && callee.name === 'MemberExpression') {
      const last = callee.lastChild;
      const method = last && last.name === 'PropertyName' ? this._name(last) : null;
      const base = this._baseName(callee);
      if (
        base &&
        method !== null &&
        (!PURE_METHODS.has(method) || (args && this._hasInplace(args)))
      ) {
        scope.mutate(base);
      }
    }
  }

  private _hasInplace(args: SyntaxNode): boolean {
    const kids = Private.children(args);
    for (let i = 0; i + 2 < kids.length; i++) {
      if (
        kids[i].name === 'VariableName' &&
        this._name(kids[i]) === 'inplace' &&
        kids[i + 1].name === 'AssignOp' &&
        this._name(kids[i + 2]) === 'True'
      ) {
        return true;
      }
    }
    return false;
  }

  private _args(node: SyntaxNode, scope: Scope): void {
    const kids = Private.children(node);
    if (kids.some(c => c.name === 'for')) {
      // `f(x for x in xs)`: the sole argument is a generator expression, with its own scope
      return this._comprehensionParts(kids, scope);
    }
    for (let i = 0; i < kids.length; i++) {
      const c = kids[i];
      if (c.name === 'VariableName' && kids[i + 1]?.name === 'AssignOp') {
        if (this._name(kids[i + 1]) === ':=' && kids[i + 2]) {
          // `f(n := len(xs))`: an assignment expression, which the parser leaves flat
          this.visit(kids[i + 2], scope);
          scope.walrusTarget().store(this._name(c));
          i += 2;
        }
        continue; // keyword argument name
      }
      if (c.name === 'AssignOp') {
        continue;
      }
      this.visit(c, scope);
    }
  }

  private _match(node: SyntaxNode, scope: Scope): void {
    const visitPattern = (p: SyntaxNode): void => {
      switch (p.name) {
        case 'CapturePattern': {
          const v = p.firstChild;
          if (v && v.name === 'VariableName' && this._name(v) !== '_') {
            scope.store(this._name(v));
          }
          return;
        }
        case 'AsPattern': {
          const kids = Private.children(p);
          kids.slice(0, -1).forEach(visitPattern);
          const last = kids[kids.length - 1];
          if (last?.name === 'VariableName') {
            scope.store(this._name(last));
          }
          return;
        }
        case 'StarPattern': {
          for (const c of Private.children(p)) {
            if (c.name === 'VariableName' && this._name(c) !== '_') {
              scope.store(this._name(c));
            } else {
              visitPattern(c);
            }
          }
          return;
        }
        case 'AttributePattern':
          if (p.firstChild) {
            scope.load(this._name(p.firstChild));
          }
          return;
        case 'ClassPattern':
          for (const c of Private.children(p)) {
            if (c.name === 'VariableName') {
              scope.load(this._name(c));
            } else {
              visitPattern(c);
            }
          }
          return;
        case 'KeywordPattern':
          Private.children(p).slice(1).forEach(visitPattern);
          return;
        case 'Guard':
          this.statements(p, scope);
          return;
        case 'Body':
          this.statements(p, scope);
          return;
        default:
          for (const c of Private.children(p)) {
            visitPattern(c);
          }
      }
    };
    for (const c of Private.children(node)) {
      if (c.name === 'MatchBody') {
        for (const clause of Private.children(c)) {
          if (clause.name === 'MatchClause') {
            Private.children(clause).forEach(visitPattern);
          }
        }
      } else if (Private.isExpressionNode(c)) {
        this.visit(c, scope);
      }
    }
  }
}

/** Statements whose bodies may or may not run. */
const BRANCHES: ReadonlySet<string> = new Set([
  'IfStatement',
  'TryStatement',
  'WhileStatement',
  'ForStatement',
  'WithStatement',
  'MatchStatement'
]);

/** Names whose use can bind names Chard cannot see. */
const DYNAMIC_NAMES: ReadonlySet<string> = new Set(['globals', 'vars', 'locals', 'exec', 'eval']);

/**
 * True when every statement is an import (for `importsOnly`); `pass` statements that stand for
 * session magics (`%matplotlib inline`, at `magicLines`) do not count.
 */
function isImportOnly(top: SyntaxNode, isMagic: (node: SyntaxNode) => boolean): boolean {
  let any = false;
  for (let c = top.firstChild; c; c = c.nextSibling) {
    if (c.name === 'Comment' || (c.name === 'PassStatement' && isMagic(c))) {
      continue;
    }
    if (c.name === 'StatementGroup') {
      if (!isImportOnly(c, isMagic)) {
        return false;
      }
      any = true;
      continue;
    }
    if (c.name === ';') {
      continue;
    }
    if (c.name !== 'ImportStatement') {
      return false;
    }
    any = true;
  }
  return any;
}

/**
 * The text @lezer/python 1.1 reads in place of `code`, with the same lines: form feeds (which
 * Python reads as whitespace) become spaces, and `with CM as (a, b):`, which it cannot parse,
 * becomes `for (a, b) in CM:` (the same names read and bound).
 */
function parseableText(code: string): string {
  let text = code.includes('\f') ? code.replace(/\f/g, ' ') : code;
  if (/\bas[ \t]*\(/.test(text)) {
    text = text.replace(
      /^([ \t]*)((?:async[ \t]+)?)with\b([^:]*?)\bas[ \t]*(\([^()]*\))[ \t]*:/gm,
      (whole, indent: string, async: string, manager: string, target: string) =>
        /\bas\b/.test(manager) ? whole : `${indent}${async}for ${target} in${manager}:`
    );
  }
  return text;
}

/**
 * True for an error node that is a real syntax error: @lezer/python 1.1 also leaves an empty
 * error node after a bare `yield` and in an empty class pattern `case Point():` (both of which
 * Python accepts).
 */
function isParserError(node: SyntaxNode): boolean {
  if (node.from !== node.to) {
    return true;
  }
  const parent = node.parent;

  if (parent?.name === 'YieldStatement' || parent?.name === 'YieldExpression') {
    return false;
  }
  return !(parent?.name === 'LiteralPattern' && parent.from === parent.to);
}

/**
 * Where the parser first gave up (its line, and whether only comments follow), or null when
 * it parsed the code cleanly.
 */
function firstError(
  tree: Tree,
  walker: Walker,
  code: string
): { line: number; atEnd: boolean } | null {
  let first = walker.firstError;
  tree.iterate({
    enter: node => {
      if (first !== null && node.from >= first) {
        return false;
      }
      if (node.type.isError && isParserError(node.node)) {
        first = node.from;
        return false;
      }
      return undefined;
    }
  });
  if (first === null) {
    return null;
  }
  const rest = code.slice(first).replace(/#.*$/gm, '').trim();
  return { line: walker.lineOf(first), atEnd: rest === '' };
}

/** Analyse one cell's source (IPython syntax allowed). Never throws. */
export function analyzeCell(source: string): ICellAnalysis {
  const pre = preprocessIPython(source);
  const code = completeTrailingDotFloats(pre.code);
  const text = parseableText(code);
  const tree = parser.parse(text);
  const module = new ModuleScope();
  const walker = new Walker(text, module);
  walker.postponedAnnotations =
    /^[ \t]*from[ \t]+__future__[ \t]+import[^\n]*\bannotations\b/m.test(text);
  const top = tree.topNode;
  walker.statements(top, module);
  const defines = [...module.bound].filter(n => !module.deleted.has(n)).sort();
  const diagnostics = walker.diagnostics;
  // Always: @lezer/python accepts some code CPython rejects (indentation, unterminated strings).
  const error = pythonSyntaxError(code, firstError(tree, walker, text));
  if (error) {
    diagnostics.unshift({ severity: 'error', line: error.line, message: error.message });
  }
  const magicLines = new Set(pre.magicLines);
  return {
    reads: module.reads,
    readLines: module.readPositions.map(p => walker.lineOf(p)),
    lazyReads: [...module.lazy].sort(),
    defines,
    mutates: [...module.mutated].sort(),
    deletes: [...module.deleted].sort(),
    imports: [...module.imported].filter(n => module.bound.has(n)).sort(),
    functions: [...module.functions.values()],
    diagnostics,
    dynamic: walker.dynamic || pre.dynamic,
    importsOnly:
      pre.ignoredCellMagic === null &&
      isImportOnly(top, node => magicLines.has(walker.lineOf(node.from))),
    ignoredCellMagic: pre.ignoredCellMagic
  };
}
