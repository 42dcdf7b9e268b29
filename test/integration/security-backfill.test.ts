/**
 * Backfill never clobbers good data: the output is written whole or not at all, only when a tenant
 * succeeded, and an existing file is replaced only with --force. Through the built exporter, the
 * fake cloud over TLS and the real file system (a file size limit stands in for a full disk).
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { baseEnv, clientSecretEnv, INTEGRATION_TIMEOUT_MS, runExporter } from '../helpers/exporter.js';
import { closeFakeClouds, type FakeCloud, INVALID_CLIENT_SECRET, startFakeCloud } from '../helpers/fake-cloud.js';

const GOOD = '# an earlier, good backfill\n# EOF\n';

afterEach(closeFakeClouds);

/** A cloud whose history is `days` entries long, each about 300 bytes of OpenMetrics. */
async function cloudWithHistory(days: number): Promise<FakeCloud> {
  const cloud = await startFakeCloud();
  cloud.relationDefault = (request) => {
    if (!request.path.endsWith('/history')) return { status: 404, body: { error: { code: 'ResourceNotFound', message: 'no' } } };
    const value = Array.from({ length: days }, (_, i) => ({
      createdDateTime: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
      score: i % 100,
      compliantRequirementsCount: 3,
      totalRequirementsCount: 5,
    }));
    return { body: { value } };
  };
  return cloud;
}

function backfill(cloud: FakeCloud, output: string, extra: readonly string[] = [], limits: { fileSizeKiB?: number } = {}) {
  return runExporter(
    ['backfill', `--output=${output}`, `--graph.endpoint=${cloud.url}`, '--log.format=json', ...extra],
    { ...baseEnv(cloud), ...clientSecretEnv() },
    30_000,
    limits,
  );
}

function outputDir(): { dir: string; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pss-backfill-safe-'));
  return { dir, output: join(dir, 'history.om') };
}

describe('backfill never clobbers good data', { timeout: INTEGRATION_TIMEOUT_MS }, () => {
  it('leaves an existing good file untouched when every tenant fails, even with --force', async () => {
    const cloud = await startFakeCloud();
    cloud.refuseTokens = INVALID_CLIENT_SECRET;
    const { dir, output } = outputDir();
    writeFileSync(output, GOOD);
    const run = await backfill(cloud, output, ['--force']);
    expect(run.code).toBe(1);
    expect(readFileSync(output, 'utf8')).toBe(GOOD);
    expect(readdirSync(dir)).toEqual(['history.om']);
    expect(run.stderr).toContain('left unchanged');
  });

  it('refuses to overwrite an existing file without --force, before asking Graph anything', async () => {
    const cloud = await cloudWithHistory(3);
    const { output } = outputDir();
    writeFileSync(output, GOOD);
    const run = await backfill(cloud, output);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`"${output}" exists; add --force to replace it`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(readFileSync(output, 'utf8')).toBe(GOOD);
    expect(cloud.graphRequests).toHaveLength(0);
  });

  it('replaces an existing file with --force once the history is read', async () => {
    const cloud = await cloudWithHistory(3);
    const { dir, output } = outputDir();
    writeFileSync(output, GOOD);
    const run = await backfill(cloud, output, ['--force']);
    expect(run.code).toBe(0);
    const text = readFileSync(output, 'utf8');
    expect(text.split('\n').filter((l) => l.startsWith('partner_security_score_current{'))).toHaveLength(3);
    expect(text.endsWith('# EOF\n')).toBe(true);
    expect(readdirSync(dir)).toEqual(['history.om']);
  });

  it('leaves no partial file and keeps the old one when the disk fills up mid-write', async () => {
    // 2,000 days render to well over 64 KiB: the write fails part-way under a 64 KiB file size limit.
    const cloud = await cloudWithHistory(2000);
    const { dir, output } = outputDir();
    writeFileSync(output, GOOD);
    const run = await backfill(cloud, output, ['--force'], { fileSizeKiB: 64 });
    expect(run.code).toBe(1);
    expect(run.signal).toBeNull();
    expect(run.stderr).toContain('EFBIG');
    expect(readFileSync(output, 'utf8')).toBe(GOOD);
    expect(readdirSync(dir)).toEqual(['history.om']);
  });

  it('writes no file at all when a new output cannot be written whole', async () => {
    const cloud = await cloudWithHistory(2000);
    const { dir, output } = outputDir();
    const run = await backfill(cloud, output, [], { fileSizeKiB: 64 });
    expect(run.code).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });
});
