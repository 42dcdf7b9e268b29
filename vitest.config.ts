import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Node reads NODE_EXTRA_CA_CERTS only when a process starts: set it here, before the test workers
// and the exporters the tests spawn are started, so they trust the fake cloud's test CA. A bundle
// the machine already names there (a proxy's CA, say) is kept beside it, so npm still works.
const testCa = fileURLToPath(new URL('./test/fixtures/tls/ca.pem', import.meta.url));
const machineCa = process.env.NODE_EXTRA_CA_CERTS;
if (machineCa && machineCa !== testCa && existsSync(machineCa) && !machineCa.endsWith('pss-test-ca-bundle.pem')) {
  const bundle = join(tmpdir(), 'pss-test-ca-bundle.pem');
  writeFileSync(bundle, `${readFileSync(machineCa, 'utf8')}\n${readFileSync(testCa, 'utf8')}`);
  process.env.NODE_EXTRA_CA_CERTS = bundle;
} else if (!machineCa?.endsWith('pss-test-ca-bundle.pem')) process.env.NODE_EXTRA_CA_CERTS = testCa;

// The tiers, by the boundary a test crosses. `npm test` runs all three; `npm run test:unit` only the
// first, which needs no dist/, no system tool and no child process, and finishes in seconds.
// test/unit/tiers.test.ts fails when a test file lies outside these folders (it would not run).
const TIERS = {
  /** One process: the code called directly, servers (the express app, a fake Graph) on 127.0.0.1 at most. */
  unit: { include: ['test/unit/**/*.test.ts'] },
  /** The built exporter (or another program: openssl, bash, npm) as a child process; the TLS fake cloud. */
  integration: { include: ['test/integration/**/*.test.ts'], globalSetup: ['test/global-setup.ts'], setupFiles: ['test/setup-children.ts'] },
  /** Real system tools: promtool, Prometheus, Alertmanager, Chromium, kubectl, wrk, the npm registry. */
  stack: { include: ['test/stack/**/*.test.ts'], globalSetup: ['test/global-setup.ts'], setupFiles: ['test/setup-children.ts'] },
};

export default defineConfig({
  test: {
    // Forks, not threads: worker threads share the main process's certificate store.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: '.vitest-results.json' }]],
    projects: Object.entries(TIERS).map(([name, tier]) => ({ extends: true, test: { name, ...tier } })),
  },
});
