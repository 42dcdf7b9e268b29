import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';

describe('test environment', () => {
  it('trusts the fake cloud CA through NODE_EXTRA_CA_CERTS', async () => {
    const server = createServer({ cert: readFileSync('test/fixtures/tls/server.pem'), key: readFileSync('test/fixtures/tls/server-key.pem') }, (_req, res) =>
      res.end('hi'),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const res = await request(`https://127.0.0.1:${port}/`);
      expect(await res.body.text()).toBe('hi');
    } finally {
      server.close();
    }
  });
});
