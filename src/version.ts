/** The exporter's name and version, read from package.json next to src/ and dist/. */
import { readFileSync } from 'node:fs';

export const NAME = 'partner-security-score-exporter';

/** The version in package.json ("unknown" if it cannot be read). */
export function readVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const version = (pkg as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}
