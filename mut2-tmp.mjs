import { execFileSync } from 'node:child_process';
import { analyzeCell } from '/work/wt/analysis/lib/src/core/python/scopes.js';
const cases = JSON.parse(execFileSync('/usr/bin/python3', ['tests/core/python/cpython_syntax.py', '--mutations', '3000'], { maxBuffer: 1 << 28 }).toString());
for (const c of cases) {
  const e = analyzeCell(c.source).diagnostics.find(d => d.severity === 'error');
  const got = e ? { line: e.line, message: e.message } : null;
  if (JSON.stringify(got) !== JSON.stringify(c.report)) {
    console.log('CPython', JSON.stringify(c.report), 'Chard', JSON.stringify(got));
    const lines = c.source.split('\n'); const L = (c.report?.line ?? got?.line ?? 1);
    console.log('   ', JSON.stringify(lines.slice(Math.max(0, L - 3), L + 1).join('\n')).slice(0, 300));
  }
}
