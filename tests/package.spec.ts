/** The package as `npm ci` installs it. */
import { readFileSync } from 'node:fs';
import semver from 'semver';

interface ILock {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
}

describe('the dependency tree', () => {
  it("supports every Node version package.json's engines allows (npm ci prints no EBADENGINE)", () => {
    const engines = (
      JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string } }
    ).engines.node;
    const oldest = semver.minVersion(engines)!.version;
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as ILock;
    const unsupported = Object.entries(lock.packages)
      .filter(([name]) => name !== '')
      .flatMap(([name, entry]) => {
        const wanted = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
        return wanted !== undefined && !semver.satisfies(oldest, wanted)
          ? [`${name.replace(/^.*node_modules\//, '')}@${entry.version}: node ${wanted}`]
          : [];
      });
    expect([oldest, unsupported]).toEqual([oldest, []]);
  });
});
