import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import {
  parseSize,
  snapshotWorkspace,
  SnapshotError,
  verifyObjects
} from '../../../src/server/local/snapshot.js';

function workspace(): { src: string; store: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chard-snap-'));
  const src = path.join(root, 'project');
  fs.mkdirSync(path.join(src, 'data', 'raw'), { recursive: true });
  fs.mkdirSync(path.join(src, '.git'));
  fs.mkdirSync(path.join(src, '__pycache__'));
  fs.writeFileSync(path.join(src, 'analysis.ipynb'), '{"cells": []}');
  fs.writeFileSync(path.join(src, 'helpers.py'), 'def f():\n    return 1\n');
  fs.writeFileSync(path.join(src, 'data', 'raw', 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
  fs.writeFileSync(path.join(src, 'data', 'notes.tmp'), 'scratch');
  fs.writeFileSync(path.join(src, '.git', 'HEAD'), 'ref: refs/heads/main');
  fs.writeFileSync(path.join(src, '__pycache__', 'helpers.pyc'), 'x');
  fs.symlinkSync('helpers.py', path.join(src, 'alias.py'));
  return { src, store: path.join(src, '.chard') };
}

function tree(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap(e => {
    const child = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? tree(dir, child) : [child];
  });
}

describe('snapshotWorkspace', () => {
  it('captures the directory without the excluded parts, with the same contents', async () => {
    const { src, store } = workspace();
    const target = path.join(store, 'runs', 'r1', 'workspace');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const result = await snapshotWorkspace({ source: src, target, store, exclude: ['*.tmp'] });
    expect(tree(target).sort()).toEqual([
      'alias.py',
      'analysis.ipynb',
      'data/raw/big.bin',
      'helpers.py'
    ]);
    expect(fs.readFileSync(path.join(target, 'helpers.py'), 'utf8')).toBe(
      'def f():\n    return 1\n'
    );
    expect(fs.readlinkSync(path.join(target, 'alias.py'))).toBe('helpers.py');
    expect(result.files).toBe(3);
    expect(result.hashedBytes).toBe(result.bytes);
  });

  it('does not read unchanged files again: the second snapshot hashes nothing', async () => {
    const { src, store } = workspace();
    fs.mkdirSync(path.join(store, 'runs'), { recursive: true });
    await snapshotWorkspace({ source: src, target: path.join(store, 'runs', 'a'), store });
    fs.writeFileSync(path.join(src, 'helpers.py'), 'def f():\n    return 2\n');
    const second = await snapshotWorkspace({
      source: src,
      target: path.join(store, 'runs', 'b'),
      store
    });
    expect(second.hashedBytes).toBe('def f():\n    return 2\n'.length);
    expect(fs.readFileSync(path.join(store, 'runs', 'a', 'helpers.py'), 'utf8')).toContain(
      'return 1'
    );
    expect(fs.readFileSync(path.join(store, 'runs', 'b', 'helpers.py'), 'utf8')).toContain(
      'return 2'
    );
    // the large file is shared, not copied
    const a = fs.statSync(path.join(store, 'runs', 'a', 'data', 'raw', 'big.bin'));
    const b = fs.statSync(path.join(store, 'runs', 'b', 'data', 'raw', 'big.bin'));
    expect(a.ino).toBe(b.ino);
  });

  it('keeps the shared objects intact when a step replaces or edits workspace files', async () => {
    const { src, store } = workspace();
    fs.mkdirSync(path.join(store, 'runs'), { recursive: true });
    const first = path.join(store, 'runs', 'a');
    const result = await snapshotWorkspace({ source: src, target: first, store });
    // small files are private copies: writing into them in place is harmless
    fs.writeFileSync(path.join(first, 'helpers.py'), 'edited by a step');
    // large files are read-only links: a step replaces them (new inode), the object is untouched
    const big = path.join(first, 'data', 'raw', 'big.bin');
    expect(fs.statSync(big).mode & 0o222).toBe(0);
    fs.writeFileSync(big + '.new', 'replacement');
    fs.renameSync(big + '.new', big);
    expect(await verifyObjects(store, result.linkedObjects)).toEqual([]);
    const second = path.join(store, 'runs', 'b');
    await snapshotWorkspace({ source: src, target: second, store });
    expect(fs.readFileSync(path.join(second, 'helpers.py'), 'utf8')).toContain('return 1');
    expect(
      fs
        .readFileSync(path.join(second, 'data', 'raw', 'big.bin'))
        .equals(Buffer.alloc(3 * 1024 * 1024, 7))
    ).toBe(true);
  });

  it('detects an object written into in place (as root can) and evicts it', async () => {
    const { src, store } = workspace();
    fs.mkdirSync(path.join(store, 'runs'), { recursive: true });
    const first = path.join(store, 'runs', 'a');
    const result = await snapshotWorkspace({ source: src, target: first, store });
    const big = path.join(first, 'data', 'raw', 'big.bin');
    fs.chmodSync(big, 0o644);
    fs.writeFileSync(big, 'corrupted in place');
    expect(await verifyObjects(store, result.linkedObjects)).toEqual(result.linkedObjects);
    const second = path.join(store, 'runs', 'b');
    const again = await snapshotWorkspace({ source: src, target: second, store });
    expect(again.hashedBytes).toBe(3 * 1024 * 1024);
    expect(
      fs
        .readFileSync(path.join(second, 'data', 'raw', 'big.bin'))
        .equals(Buffer.alloc(3 * 1024 * 1024, 7))
    ).toBe(true);
  });

  it('refuses a workspace above the size limit with a message saying what to do', async () => {
    const { src, store } = workspace();
    const target = path.join(store, 'runs', 'x');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await expect(
      snapshotWorkspace({ source: src, target, store, maxBytes: 1024 * 1024 })
    ).rejects.toThrow(SnapshotError);
    await expect(
      snapshotWorkspace({ source: src, target, store, maxBytes: 1024 * 1024 })
    ).rejects.toThrow(
      /holds 3\.0 MiB, above the snapshot limit of 1\.0 MiB \(largest: data\/raw\/big\.bin 3\.0 MiB.*--exclude PATTERN or raise --max-snapshot-size/
    );
    expect(fs.existsSync(target)).toBe(false);
    const ok = await snapshotWorkspace({
      source: src,
      target,
      store,
      maxBytes: 1024 * 1024,
      exclude: ['data/raw']
    });
    expect(ok.files).toBe(3);
  });

  it('copy mode makes every file a private copy', async () => {
    const { src, store } = workspace();
    fs.mkdirSync(path.join(store, 'runs'), { recursive: true });
    const result = await snapshotWorkspace({
      source: src,
      target: path.join(store, 'runs', 'c'),
      store,
      mode: 'copy'
    });
    expect(result.linked).toBe(0);
    expect(fs.statSync(path.join(store, 'runs', 'c', 'data', 'raw', 'big.bin')).nlink).toBe(1);
  });
});

describe('parseSize', () => {
  it('reads the sizes users write', () => {
    expect(parseSize('2GiB')).toBe(2 * 1024 ** 3);
    expect(parseSize('500MB')).toBe(500 * 1000 ** 2);
    expect(parseSize('1024')).toBe(1024);
    expect(parseSize('lots')).toBeNull();
  });
});
