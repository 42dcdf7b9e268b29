/** The exporter's name and version, read from package.json next to src/ and dist/. */
import { readFileSync } from 'node:fs';

/** The version in package.json ("unknown" if it cannot be read). */
export function readVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const version = (pkg as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The source revision recorded at build time in dist/cli/build-info.json (see write-build-info.ts);
 * "unknown" when running from sources or when the build could not tell.
 */
export function readRevision(): string {
  try {
    const info: unknown = JSON.parse(readFileSync(new URL('./build-info.json', import.meta.url), 'utf8'));
    const revision = (info as { revision?: unknown }).revision;
    return typeof revision === 'string' && /^([0-9a-f]{7,64}|unknown)$/.test(revision) ? revision : 'unknown';
  } catch {
    return 'unknown';
  }
}
