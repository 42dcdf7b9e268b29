/** errorText: an error as one line for a log value or a metric-free message. */
import { describe, expect, it } from 'vitest';
import { errorText } from '../../../src/lib/errors.js';

describe('errorText', () => {
  it('adds the cause in parentheses when it says something the message does not', () => {
    expect(errorText(new Error('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') }))).toBe(
      'fetch failed (connect ECONNREFUSED 127.0.0.1:1)',
    );
  });

  it('says a cause only once when the message already holds it (the Azure SDK wraps errors in their own words)', () => {
    const inner = new Error('cannot read the federated token file "/t": larger than 1 MiB (1048757 bytes)');
    expect(errorText(new Error(inner.message, { cause: inner }))).toBe(inner.message);
    expect(errorText(new Error(`ClientAssertionCredential: ${inner.message}`, { cause: inner }))).toBe(`ClientAssertionCredential: ${inner.message}`);
  });

  it('puts a string code first and redacts before cutting', () => {
    const error = Object.assign(new Error('secret s3cr3t leaked'), { code: 'E_X' });
    expect(errorText(error, (t) => t.replaceAll('s3cr3t', '***'))).toBe('E_X: secret *** leaked');
  });
});
