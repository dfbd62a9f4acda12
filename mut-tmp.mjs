import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { analyzeCell } from '/work/wt/analysis/lib/src/core/python/scopes.js';
const data = JSON.parse(readFileSync('/tmp/analysis-sym.json', 'utf8'));
let seed = 12345;
const rnd = n => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
const cells = [];
for (const f of data.files) {
  const lines = f.source.split('\n');
  for (let k = 0; k + 15 < lines.length && cells.length < 3000; k += 97) {
    const cell = lines.slice(k, k + 15).join('\n');
    // dedent so the cell starts at column 0
    cells.push(cell);
  }
}
const broken = [];
for (const c of cells) {
  const chars = [...c.matchAll(/[():\[\]{}'",]/g)];
  if (chars.length === 0) continue;
  const m = chars[rnd(chars.length)];
  broken.push(c.slice(0, m.index) + c.slice(m.index + 1));
}
const out = execFileSync('/usr/bin/python3', ['tests/core/python/cpython_syntax.py'], { input: JSON.stringify(broken), maxBuffer: 1 << 28 });
const py = JSON.parse(out.toString());
let agree = 0, errs = 0; const bad = {};
broken.forEach((src, i) => {
  const e = analyzeCell(src).diagnostics.find(d => d.severity === 'error');
  const got = e ? { line: e.line, message: e.message } : null;
  if (py[i]) errs++;
  if (JSON.stringify(got) === JSON.stringify(py[i])) agree++;
  else { const key = `${py[i]?.message} <- ${got?.message}${py[i] && got && py[i].line !== got.line ? ' (line)' : ''}`; (bad[key] ||= []).push(i); }
});
console.log(`${agree}/${broken.length} agree (${errs} are errors for CPython)`);
const top = Object.entries(bad).sort((a, b) => b[1].length - a[1].length).slice(0, 25);
for (const [k, v] of top) console.log(v.length, k);
writeFileSync('/tmp/analysis-mut.json', JSON.stringify({ broken, py, bad }));
