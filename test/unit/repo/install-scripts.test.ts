/**
 * No dependency runs code when it is installed: package-lock.json records which packages have an
 * install script (preinstall, install, postinstall or a binding.gyp) as hasInstallScript, and none
 * may have one beyond the allow-list below. The image build installs with
 * --ignore-scripts; this test is what fails when an update brings an install script in.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** Packages (their path in the lockfile) allowed an install script, each with the reason. None so far. */
const ALLOWED: Readonly<Record<string, string>> = {};

/** The lockfile entries (other than the project itself) that have an install script. */
function withInstallScripts(lock: unknown): string[] {
  const packages = (lock as { packages?: Record<string, { hasInstallScript?: unknown }> } | undefined)?.packages;
  if (packages === undefined || typeof packages !== 'object') throw new Error('not a package-lock.json of lockfileVersion 2 or 3 (no "packages")');
  return Object.entries(packages)
    .filter(([path, entry]) => path !== '' && entry?.hasInstallScript === true)
    .map(([path]) => path)
    .sort();
}

describe('install scripts in package-lock.json', () => {
  it('no dependency has an install script beyond the allow-list', () => {
    const lock: unknown = JSON.parse(readFileSync(new URL('../../../package-lock.json', import.meta.url), 'utf8'));
    expect(withInstallScripts(lock)).toEqual(Object.keys(ALLOWED).sort());
  });

  it('finds an entry that gains one, nested or not (the check can fail)', () => {
    const lock = {
      lockfileVersion: 3,
      packages: {
        '': { name: 'partner-security-score-exporter', hasInstallScript: true },
        'node_modules/plain': { version: '1.0.0' },
        'node_modules/native': { version: '2.0.0', hasInstallScript: true },
        'node_modules/a/node_modules/nested': { version: '3.0.0', hasInstallScript: true },
      },
    };
    expect(withInstallScripts(lock)).toEqual(['node_modules/a/node_modules/nested', 'node_modules/native']);
    expect(() => withInstallScripts({ lockfileVersion: 1, dependencies: {} })).toThrow('no "packages"');
  });
});
