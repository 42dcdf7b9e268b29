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

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Forks, not threads: worker threads share the main process's certificate store.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', ['json', { outputFile: '.vitest-results.json' }]],
  },
});
