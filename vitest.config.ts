import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Node reads NODE_EXTRA_CA_CERTS only when a process starts: set it here, before the test workers
// and the exporters the tests spawn are started, so they trust the fake cloud's test CA. (Node's
// own root store stays trusted too; a machine-wide value is replaced, tests reach only loopback.)
process.env.NODE_EXTRA_CA_CERTS = fileURLToPath(new URL('./test/fixtures/tls/ca.pem', import.meta.url));

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
