import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

describe('express', () => {
  it('is loaded only once a request needs it: /metrics and the probes are answered without it', () => {
    // A process of its own: the module cache tells what was loaded.
    const run = spawnSync(process.execPath, ['--import', join(ROOT, 'dashboards/ts-imports.ts'), join(ROOT, 'test/fixtures/scripts/pages-on-demand.ts')], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ before: false, probed: [200, 200, 200, 200, 200, 200], afterProbes: false, page: 200, afterPage: true });
  });
});
