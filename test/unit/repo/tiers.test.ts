/**
 * The test tiers of vitest.config.ts: a test file runs only if it lives in a tier's folder, and the
 * unit tier (npm run test:unit) stays in one process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const TEST_DIR = fileURLToPath(new URL('../..', import.meta.url));
const TIERS = ['unit', 'integration', 'stack'];

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(TEST_DIR, path)] : [];
  });
}

describe('test tiers', () => {
  it('every test file lives in test/unit/, test/integration/ or test/stack/ (elsewhere it would not run)', () => {
    const files = testFiles(TEST_DIR);
    expect(files.length).toBeGreaterThan(40);
    expect(files.filter((file) => !TIERS.includes(file.split('/')[0] ?? ''))).toEqual([]);
  });

  it('unit tests start no child process and need no dist/', () => {
    // This file names what it looks for, so it is left out.
    const unit = testFiles(TEST_DIR).filter((file) => file.startsWith('unit/') && file !== 'unit/repo/tiers.test.ts');
    const offenders = unit.filter((file) => /node:child_process|dist\/main|startExporter|runExporter/.test(readFileSync(join(TEST_DIR, file), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
