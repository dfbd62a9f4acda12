import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { HttpError, resolveInsideRoot } from '../../../src/server/http/index.js';

describe('resolveInsideRoot', () => {
  let base: string;
  let root: string;

  beforeAll(() => {
    base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'chard-root-')));
    root = path.join(base, 'root');
    fs.mkdirSync(path.join(root, 'sub dir'), { recursive: true });
    fs.writeFileSync(path.join(root, 'a.ipynb'), '{}');
    fs.writeFileSync(path.join(root, 'sub dir', 'b.ipynb'), '{}');
    fs.writeFileSync(path.join(base, 'secret.ipynb'), '{}');
    fs.symlinkSync(path.join(base, 'secret.ipynb'), path.join(root, 'leak.ipynb'));
    fs.symlinkSync(base, path.join(root, 'up'));
    fs.symlinkSync(path.join(root, 'a.ipynb'), path.join(root, 'alias.ipynb'));
  });

  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  async function refusal(p: string): Promise<[number, string] | null> {
    try {
      await resolveInsideRoot(root, p);
      return null;
    } catch (e) {
      return e instanceof HttpError ? [e.status, e.code] : [0, String(e)];
    }
  }

  it('resolves paths inside the root, symbolic links that stay inside included', async () => {
    expect(await resolveInsideRoot(root, 'a.ipynb')).toBe(path.join(root, 'a.ipynb'));
    expect(await resolveInsideRoot(root, 'sub dir/b.ipynb')).toBe(
      path.join(root, 'sub dir', 'b.ipynb')
    );
    expect(await resolveInsideRoot(root, './sub dir//b.ipynb')).toBe(
      path.join(root, 'sub dir', 'b.ipynb')
    );
    expect(await resolveInsideRoot(root, 'alias.ipynb')).toBe(path.join(root, 'a.ipynb'));
  });

  it('refuses .., absolute paths and symbolic links that leave the root', async () => {
    for (const p of [
      '../secret.ipynb',
      'sub dir/../../secret.ipynb',
      '..\\secret.ipynb',
      '/etc/passwd',
      path.join(base, 'secret.ipynb'),
      'C:\\Windows\\win.ini',
      'leak.ipynb',
      'up/secret.ipynb'
    ]) {
      expect([p, await refusal(p)]).toEqual([p, [403, 'outside-root']]);
    }
  });

  it('says which files do not exist, and refuses empty or NUL paths', async () => {
    expect(await refusal('missing.ipynb')).toEqual([404, 'no-such-file']);
    expect(await refusal('')).toEqual([400, 'bad-request']);
    expect(await refusal('a.ipynb\0.txt')).toEqual([400, 'bad-request']);
  });
});
