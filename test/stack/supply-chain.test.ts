import { describe, expect, it } from 'vitest';
import { readAudit, runAudit } from '../../scripts/audit.js';

describe('npm audit of production dependencies', () => {
  it('reads a report and picks out high and critical findings', () => {
    const report = JSON.stringify({
      auditReportVersion: 2,
      vulnerabilities: { a: { severity: 'moderate' }, b: { severity: 'critical' }, c: { severity: 'high' } },
      metadata: { vulnerabilities: { info: 0, low: 0, moderate: 1, high: 1, critical: 1, total: 3 } },
    });
    expect(readAudit(report)).toEqual({ kind: 'report', highOrAbove: ['b (critical)', 'c (high)'], total: 3 });
    expect(readAudit(JSON.stringify({ vulnerabilities: {}, metadata: { vulnerabilities: { total: 0 } } }))).toEqual({
      kind: 'report',
      highOrAbove: [],
      total: 0,
    });
  });

  it('says "unavailable" rather than pass when the registry cannot be asked', () => {
    expect(readAudit(JSON.stringify({ message: '405 Method Not Allowed - POST https://registry/-/npm/v1/security/advisories/bulk', statusCode: 405 }))).toEqual(
      {
        kind: 'unavailable',
        reason: 'HTTP 405: 405 Method Not Allowed - POST https://registry/-/npm/v1/security/advisories/bulk',
      },
    );
    expect(readAudit(JSON.stringify({ error: { code: 'ENOTFOUND', summary: 'getaddrinfo ENOTFOUND registry.example' } })).kind).toBe('unavailable');
    expect(readAudit('npm ERR! network').kind).toBe('unavailable');
  });

  it('finds no known vulnerability at high or above (skipped, with the reason, when the registry cannot be asked)', (ctx) => {
    const verdict = runAudit();
    if (verdict.kind === 'unavailable') {
      ctx.skip(`npm audit could not ask the registry: ${verdict.reason}`);
      return;
    }
    expect(verdict.highOrAbove).toEqual([]);
  }, 150_000);
});
